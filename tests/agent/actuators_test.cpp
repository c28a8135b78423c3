// Actuators against fixture trees in a temp dir that mimic cgroupfs (v2 and v1 files),
// a stand-in systemctl that records its argv, configured files with shell check and
// reload commands, and restarts of a `sleep` child this test owns.
#include "agent/actuators/actuators.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "agent/actuators/command.h"
#include "agent/actuators/template.h"
#include "tests/agent/actuator_actions.h"

extern char** environ;

namespace homeostat::agent::actuators {
namespace {

namespace fs = std::filesystem;
using engine::policy::Action;
using engine::policy::ActionKind;

std::string slurp(const fs::path& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

void put(const fs::path& p, const std::string& s) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << s;
}

int lines(const fs::path& p) {
    std::ifstream f(p);
    int n = 0;
    for (std::string l; std::getline(f, l);)
        ++n;
    return n;
}

Action action(ActionKind k, double value, const std::string& service = "web") {
    return testing::action(k, value, service);
}

class TempDir : public ::testing::Test {
protected:
    void SetUp() override {
        std::string t = (fs::temp_directory_path() / "hs-actuators-XXXXXX").string();
        ASSERT_NE(::mkdtemp(t.data()), nullptr);
        dir_ = t;
    }
    void TearDown() override { fs::remove_all(dir_); }
    fs::path dir_;
};

// --- cgroup ------------------------------------------------------------------------------

class Cgroups : public TempDir {
protected:
    void SetUp() override {
        TempDir::SetUp();
        v2_ = dir_ / "unified/system.slice/web.service";
        put(v2_ / "cpu.max", "max 100000\n");
        put(v2_ / "cpu.weight", "100\n");
        put(v2_ / "memory.high", "max\n");
        put(v2_ / "memory.max", "max\n");
        put(v2_ / "pids.max", "max\n");
        // v1: the hybrid layout of this host (the v2 dir of the v1 service has no files)
        v1_cpu_ = dir_ / "cpu/web";
        v1_mem_ = dir_ / "memory/web";
        v1_pids_ = dir_ / "pids/web";
        fs::create_directories(dir_ / "unified/web1");
        put(v1_cpu_ / "cpu.cfs_quota_us", "-1\n");
        put(v1_cpu_ / "cpu.cfs_period_us", "50000\n");
        put(v1_cpu_ / "cpu.shares", "1024\n");
        put(v1_mem_ / "memory.limit_in_bytes", "9223372036854771712\n");
        put(v1_mem_ / "memory.soft_limit_in_bytes", "9223372036854771712\n");
        put(v1_pids_ / "pids.max", "max\n");
        cfg_.cgroup_allow = {dir_.string()};
    }
    ServiceTarget v2() const { return {.service = "web", .cgroup_v2_dir = v2_.string()}; }
    ServiceTarget v1() const {
        return {.service = "web",
                .cgroup_v2_dir = (dir_ / "unified/web1").string(),
                .v1_dirs = {
                    {"cpu", v1_cpu_.string()}, {"memory", v1_mem_.string()}, {"pids", v1_pids_.string()}}};
    }
    ActuatorConfig cfg_;
    fs::path v2_, v1_cpu_, v1_mem_, v1_pids_;
};

TEST_F(Cgroups, V2CpuQuotaKeepsThePeriodAndReverts) {
    put(v2_ / "cpu.max", "max 200000\n");
    CgroupActuator act(cfg_);
    auto p = act.plan(action(ActionKind::cpu_quota, 1.5), v2());
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_EQ(*p, "cgroup v2 " + (v2_ / "cpu.max").string() + " of web: max 200000 → 300000 200000");
    EXPECT_EQ(slurp(v2_ / "cpu.max"), "max 200000\n") << "plan changes nothing";
    auto c = act.apply(action(ActionKind::cpu_quota, 1.5), v2());
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(slurp(v2_ / "cpu.max"), "300000 200000");
    EXPECT_EQ(c->before.at((v2_ / "cpu.max").string()), "max 200000");
    EXPECT_EQ(c->after.at((v2_ / "cpu.max").string()), "300000 200000");
    EXPECT_EQ(c->kind, ActionKind::cpu_quota);
    ASSERT_TRUE(act.revert(*c, v2()));
    EXPECT_EQ(slurp(v2_ / "cpu.max"), "max 200000");
}

TEST_F(Cgroups, V2MemoryWeightAndPids) {
    CgroupActuator act(cfg_);
    auto high = act.apply(action(ActionKind::memory_high, 600.0 * (1 << 20)), v2());
    ASSERT_TRUE(high) << high.error().message;
    EXPECT_EQ(slurp(v2_ / "memory.high"), "629145600");
    EXPECT_EQ(high->summary, "memory.high of web: max → 629145600 (600 MiB)");
    auto max = act.apply(action(ActionKind::memory_max, 1 << 30), v2());
    ASSERT_TRUE(max);
    EXPECT_EQ(slurp(v2_ / "memory.max"), "1073741824");
    auto w = act.apply(action(ActionKind::cpu_weight, 50), v2());
    ASSERT_TRUE(w);
    EXPECT_EQ(slurp(v2_ / "cpu.weight"), "50");
    auto pids = act.apply(action(ActionKind::pids_max, 64), v2());
    ASSERT_TRUE(pids);
    EXPECT_EQ(slurp(v2_ / "pids.max"), "64");
    auto lift = act.apply(action(ActionKind::memory_max, 0), v2());
    ASSERT_TRUE(lift);
    EXPECT_EQ(slurp(v2_ / "memory.max"), "max") << "value <= 0 lifts the limit";
    for (auto* c : {&lift, &pids, &w, &max, &high})
        ASSERT_TRUE(act.revert(**c, v2()));
    EXPECT_EQ(slurp(v2_ / "memory.high"), "max");
    EXPECT_EQ(slurp(v2_ / "memory.max"), "max");
    EXPECT_EQ(slurp(v2_ / "cpu.weight"), "100");
    EXPECT_EQ(slurp(v2_ / "pids.max"), "max");
}

TEST_F(Cgroups, BadValuesAreRefused) {
    CgroupActuator act(cfg_);
    auto w = act.apply(action(ActionKind::cpu_weight, 20000), v2());
    ASSERT_FALSE(w);
    EXPECT_NE(w.error().message.find("outside 1..10000"), std::string::npos);
    auto q = act.apply(action(ActionKind::cpu_quota, 0.001), v2());
    ASSERT_FALSE(q);
    EXPECT_NE(q.error().message.find("1 ms"), std::string::npos);
    EXPECT_EQ(slurp(v2_ / "cpu.max"), "max 100000\n");
}

TEST_F(Cgroups, V1FilesWhenTheV2CgroupHasNoControllers) {
    CgroupActuator act(cfg_);
    auto q = act.apply(action(ActionKind::cpu_quota, 0.5), v1());
    ASSERT_TRUE(q) << q.error().message;
    EXPECT_EQ(slurp(v1_cpu_ / "cpu.cfs_quota_us"), "25000") << "period 50000 from cpu.cfs_period_us";
    auto s = act.apply(action(ActionKind::cpu_weight, 200), v1());
    ASSERT_TRUE(s);
    EXPECT_EQ(slurp(v1_cpu_ / "cpu.shares"), "2048");
    auto m = act.apply(action(ActionKind::memory_max, 256 << 20), v1());
    ASSERT_TRUE(m);
    EXPECT_EQ(slurp(v1_mem_ / "memory.limit_in_bytes"), "268435456");
    auto h = act.apply(action(ActionKind::memory_high, 200 << 20), v1());
    ASSERT_TRUE(h);
    EXPECT_EQ(slurp(v1_mem_ / "memory.soft_limit_in_bytes"), "209715200");
    auto p = act.apply(action(ActionKind::pids_max, 10), v1());
    ASSERT_TRUE(p);
    EXPECT_EQ(slurp(v1_pids_ / "pids.max"), "10");
    auto plan = act.plan(action(ActionKind::memory_max, 128 << 20), v1());
    ASSERT_TRUE(plan);
    EXPECT_EQ(*plan, "cgroup v1 " + (v1_mem_ / "memory.limit_in_bytes").string() +
                         " of web: 268435456 (256 MiB) → 134217728 (128 MiB)");
    for (auto* c : {&p, &h, &m, &s, &q})
        ASSERT_TRUE(act.revert(**c, v1()));
    EXPECT_EQ(slurp(v1_cpu_ / "cpu.cfs_quota_us"), "-1");
    EXPECT_EQ(slurp(v1_cpu_ / "cpu.shares"), "1024");
    EXPECT_EQ(slurp(v1_mem_ / "memory.limit_in_bytes"), "9223372036854771712");
    EXPECT_EQ(slurp(v1_pids_ / "pids.max"), "max");
}

TEST_F(Cgroups, OutsideTheAllowListIsRefused) {
    cfg_.cgroup_allow.clear();
    CgroupActuator act(cfg_);
    auto r = act.apply(action(ActionKind::memory_max, 1 << 30), v2());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("not beneath healing.cgroups.allow (empty: nothing is writable)"),
              std::string::npos)
        << r.error().message;
    EXPECT_FALSE(act.plan(action(ActionKind::memory_max, 1 << 30), v2())) << "plan says it would be refused";
    cfg_.cgroup_allow = {(dir_ / "unified/system.slice/web").string()}; // not web.service
    r = act.apply(action(ActionKind::memory_max, 1 << 30), v2());
    ASSERT_FALSE(r);
    EXPECT_EQ(slurp(v2_ / "memory.max"), "max\n");
    // ".." cannot climb out of an allowed prefix
    cfg_.cgroup_allow = {(dir_ / "cpu").string()};
    ServiceTarget sneaky{.service = "web",
                         .cgroup_v2_dir = (dir_ / "cpu/../unified/system.slice/web.service").string()};
    EXPECT_FALSE(act.apply(action(ActionKind::memory_max, 1 << 30), sneaky));
    EXPECT_EQ(slurp(v2_ / "memory.max"), "max\n");
    EXPECT_TRUE(path_allowed(v2_.string(), {(dir_ / "unified").string() + "/"}));
    EXPECT_FALSE(path_allowed("relative/x", {"relative"}));
}

TEST_F(Cgroups, VanishedCgroupIsAClearError) {
    CgroupActuator act(cfg_);
    fs::remove_all(v2_);
    auto r = act.apply(action(ActionKind::memory_high, 1 << 30), v2());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("cgroup " + v2_.string() + " of service web is gone"), std::string::npos)
        << r.error().message;
    fs::remove_all(v1_mem_);
    r = act.apply(action(ActionKind::memory_max, 1 << 30), v1());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("cgroup " + v1_mem_.string() + " of service web is gone"),
              std::string::npos);
    // applied, then the service went away before the verification window reverted it
    auto q = act.apply(action(ActionKind::cpu_quota, 1), v1());
    ASSERT_TRUE(q);
    fs::remove_all(v1_cpu_);
    auto rv = act.revert(*q, v1());
    ASSERT_FALSE(rv);
    EXPECT_NE(rv.error().message.find("is gone"), std::string::npos) << rv.error().message;
}

// A stand-in systemctl: appends its argv to argv.log; `show U -p P --value` prints the
// last value `set-property --runtime U P=V` stored (prop.P), else "infinity".
class Systemd : public Cgroups {
protected:
    void SetUp() override {
        Cgroups::SetUp();
        put(dir_ / "systemctl",
            "#!/bin/sh\nd=" + dir_.string() +
                "\nprintf '%s\\n' \"$*\" >> \"$d/argv.log\"\n"
                "case \"$1\" in\n"
                "  show) if [ -f \"$d/prop.$4\" ]; then cat \"$d/prop.$4\"; else echo infinity; fi;;\n"
                "  set-property) kv=\"$4\"; echo \"${kv#*=}\" > \"$d/prop.${kv%%=*}\";;\n"
                "  restart) ;;\n"
                "  *) exit 1;;\n"
                "esac\n");
        fs::permissions(dir_ / "systemctl", fs::perms::owner_all);
        cfg_.systemctl = (dir_ / "systemctl").string();
        cfg_.unit_allow = {"web.service"};
    }
    ServiceTarget unit() const {
        auto t = v2();
        t.systemd_unit = "web.service";
        return t;
    }
    std::string log() const { return slurp(dir_ / "argv.log"); }
};

TEST_F(Systemd, UnitsGoThroughSetPropertyNotFiles) {
    put(dir_ / "prop.CPUQuotaPerSecUSec", "500ms\n");
    CgroupActuator act(cfg_);
    auto plan = act.plan(action(ActionKind::cpu_quota, 1.5), unit());
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(*plan, cfg_.systemctl +
                         " set-property --runtime web.service CPUQuota=150% (CPUQuota of web: 50% → 150%)");
    auto c = act.apply(action(ActionKind::cpu_quota, 1.5), unit());
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_NE(log().find("set-property --runtime web.service CPUQuota=150%\n"), std::string::npos) << log();
    EXPECT_EQ(c->before.at("systemd:web.service:CPUQuota"), "50%");
    EXPECT_EQ(slurp(v2_ / "cpu.max"), "max 100000\n") << "systemd is the single writer";
    ASSERT_TRUE(act.revert(*c, unit()));
    EXPECT_NE(log().find("set-property --runtime web.service CPUQuota=50%\n"), std::string::npos) << log();

    auto m = act.apply(action(ActionKind::memory_high, 512 << 20), unit());
    ASSERT_TRUE(m);
    EXPECT_EQ(m->before.at("systemd:web.service:MemoryHigh"), "infinity");
    EXPECT_EQ(m->after.at("systemd:web.service:MemoryHigh"), "536870912") << "read back with show";
    ASSERT_TRUE(act.revert(*m, unit()));
    EXPECT_NE(log().find("MemoryHigh=infinity\n"), std::string::npos);
    for (auto [k, prop] : {std::pair{ActionKind::memory_max, "MemoryMax=100"},
                           {ActionKind::cpu_weight, "CPUWeight=100"},
                           {ActionKind::pids_max, "TasksMax=100"}}) {
        ASSERT_TRUE(act.apply(action(k, 100), unit()));
        EXPECT_NE(log().find(std::string("--runtime web.service ") + prop + "\n"), std::string::npos) << prop;
    }
}

TEST_F(Systemd, UnitNotAllowedIsRefusedWithoutRunningAnything) {
    cfg_.unit_allow.clear();
    CgroupActuator act(cfg_);
    auto r = act.apply(action(ActionKind::memory_max, 1 << 30), unit());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("not in healing.cgroups.units"), std::string::npos) << r.error().message;
    EXPECT_FALSE(fs::exists(dir_ / "argv.log"));
}

TEST_F(Systemd, FailingSystemctlIsAnError) {
    put(dir_ / "systemctl", "#!/bin/sh\necho 'Failed to set unit properties: Access denied' >&2\nexit 1\n");
    CgroupActuator act(cfg_);
    auto r = act.apply(action(ActionKind::memory_max, 1 << 30), unit());
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("Access denied"), std::string::npos) << r.error().message;
}

// --- config files ------------------------------------------------------------------------

class ConfigFiles : public TempDir {
protected:
    void SetUp() override {
        TempDir::SetUp();
        file_ = dir_ / "conf.d/app.conf";
        put(file_, "timeout 100ms;\nname web;\n");
        ::chmod(file_.c_str(), 0640);
        reload_log_ = dir_ / "reloads.log";
        ConfigFileSpec f;
        f.name = "app";
        f.path = file_.string();
        f.template_text = "timeout {{timeout_ms}}ms;\nname {{ name }};\n";
        f.vars = {{"name", "web"}};
        f.check = {"/bin/sh", "-c", "! grep -q bad " + file_.string()};
        // the reload logs each call and fails on a value the service "cannot take" (999)
        f.reload = {"/bin/sh", "-c",
                    "echo reload >> " + reload_log_.string() + "; ! grep -q 999 " + file_.string()};
        cfg_.files = {f};
    }
    Action set(const std::string& timeout) {
        Action a = action(ActionKind::config_file, 0);
        a.target = "app";
        a.vars = {{"timeout_ms", timeout}};
        return a;
    }
    ActuatorConfig cfg_;
    fs::path file_, reload_log_;
};

TEST_F(ConfigFiles, RendersWritesAtomicallyBacksUpChecksAndReloads) {
    ConfigFileActuator act(cfg_);
    auto plan = act.plan(set("850"), {.service = "web"});
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_EQ(*plan, "config file app " + file_.string() + ": -timeout 100ms; / +timeout 850ms;; backup " +
                         file_.string() + ".homeostat.bak; check `/bin/sh -c '! grep -q bad " +
                         file_.string() + "'`; reload `" + format_argv(cfg_.files[0].reload) + "`");
    auto c = act.apply(set("850"), {.service = "web"});
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(slurp(file_), "timeout 850ms;\nname web;\n");
    EXPECT_EQ(slurp(file_.string() + ".homeostat.bak"), "timeout 100ms;\nname web;\n");
    EXPECT_EQ(fs::status(file_).permissions() & fs::perms::all, fs::perms(0640)) << "mode kept";
    EXPECT_EQ(fs::status(file_.string() + ".homeostat.bak").permissions() & fs::perms::all, fs::perms(0640))
        << "the backup is no more readable than the file";
    EXPECT_EQ(lines(reload_log_), 1);
    ASSERT_EQ(c->commands.size(), 2u);
    EXPECT_EQ(c->before.at(file_.string()), "timeout 100ms;\nname web;\n");
    EXPECT_EQ(c->after.at(file_.string()), "timeout 850ms;\nname web;\n");
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(file_.parent_path()))
        names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"app.conf", "app.conf.homeostat.bak"})) << "no temp file left";
    ASSERT_TRUE(act.revert(*c, {.service = "web"}));
    EXPECT_EQ(slurp(file_), "timeout 100ms;\nname web;\n");
    EXPECT_EQ(lines(reload_log_), 2) << "revert reloads";
}

TEST_F(ConfigFiles, FailingCheckRestoresAndDoesNotReload) {
    ConfigFileActuator act(cfg_);
    auto r = act.apply(set("bad"), {.service = "web"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.rfind("check failed: ", 0), 0u) << r.error().message;
    EXPECT_NE(r.error().message.find("previous content of " + file_.string() + " restored"),
              std::string::npos);
    EXPECT_EQ(slurp(file_), "timeout 100ms;\nname web;\n");
    EXPECT_FALSE(fs::exists(reload_log_)) << "the service never read the bad file";
}

TEST_F(ConfigFiles, FailingReloadRestoresAndReloadsAgain) {
    ConfigFileActuator act(cfg_);
    auto r = act.apply(set("999"), {.service = "web"});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.rfind("reload failed: ", 0), 0u) << r.error().message;
    EXPECT_NE(r.error().message.find("restored and reloaded"), std::string::npos) << r.error().message;
    EXPECT_EQ(slurp(file_), "timeout 100ms;\nname web;\n");
    EXPECT_EQ(lines(reload_log_), 2);
}

TEST_F(ConfigFiles, MissingVariableLeavesTheFileUntouched) {
    ConfigFileActuator act(cfg_);
    auto before = fs::last_write_time(file_);
    Action a = set("1");
    a.vars.clear();
    auto r = act.apply(a, {.service = "web"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("template variable timeout_ms not set"), std::string::npos)
        << r.error().message;
    EXPECT_NE(r.error().message.find("untouched"), std::string::npos);
    EXPECT_EQ(slurp(file_), "timeout 100ms;\nname web;\n");
    EXPECT_EQ(fs::last_write_time(file_), before);
    EXPECT_FALSE(fs::exists(file_.string() + ".homeostat.bak"));
    EXPECT_FALSE(fs::exists(reload_log_));
}

TEST_F(ConfigFiles, OnlyConfiguredFilesAndTheirService) {
    ConfigFileActuator act(cfg_);
    Action a = set("1");
    a.target = "passwd";
    auto r = act.apply(a, {.service = "web"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("no configured file named \"passwd\""), std::string::npos);
    cfg_.files[0].service = "db";
    r = act.apply(set("1"), {.service = "web"});
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("belongs to db"), std::string::npos);
    Change forged{
        .kind = ActionKind::config_file, .summary = "x", .before = {{(dir_ / "other").string(), "x"}}};
    EXPECT_FALSE(act.revert(forged, {.service = "web"}));
    EXPECT_FALSE(fs::exists(dir_ / "other"));
}

TEST_F(ConfigFiles, NewFileFromATemplateFileAndSignalReload) {
    fs::path fresh = dir_ / "fresh.conf";
    put(dir_ / "fresh.tmpl", "limit {{n}};\n");
    ConfigFileSpec f{
        .name = "fresh", .path = fresh.string(), .template_file = (dir_ / "fresh.tmpl").string()};
    f.reload_signal = SIGUSR1;
    f.reload_pid = ::getpid();
    cfg_.files.push_back(f);
    static volatile sig_atomic_t got = 0;
    got = 0;
    ::signal(SIGUSR1, [](int) { got = 1; });
    ConfigFileActuator act(cfg_);
    Action a = set("1");
    a.target = "fresh";
    a.vars = {{"n", "7"}};
    auto c = act.apply(a, {.service = "web"});
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(slurp(fresh), "limit 7;\n");
    EXPECT_EQ(got, 1);
    EXPECT_EQ(c->commands.at(0), "kill: SIGUSR1 to pid " + std::to_string(::getpid()));
    EXPECT_EQ(c->before.at(fresh.string()), "");
    ASSERT_TRUE(act.revert(*c, {.service = "web"}));
    EXPECT_FALSE(fs::exists(fresh)) << "absent before: removed on revert";
    ::signal(SIGUSR1, SIG_DFL);
}

TEST(Template, RendersAndRejects) {
    auto ok = render_template("a {{x}} b {{ y.z }} {{x}}", {{"x", "1"}, {"y.z", "2"}});
    ASSERT_TRUE(ok);
    EXPECT_EQ(*ok, "a 1 b 2 1");
    auto missing = render_template("{{a}} {{b}} {{c}}", {{"b", "1"}});
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message,
              "template variables a, c not set (give it in the action's vars or the file's vars)");
    EXPECT_FALSE(render_template("x\n{{a", {{"a", "1"}}));
    EXPECT_NE(render_template("x\n{{a", {}).error().message.find("line 2"), std::string::npos);
    EXPECT_FALSE(render_template("{{a b}}", {}));
    auto inj = render_template("t {{v}};", {{"v", "1s;\ninclude /etc/passwd"}});
    ASSERT_FALSE(inj);
    EXPECT_NE(inj.error().message.find("control character"), std::string::npos);
}

// --- restart -----------------------------------------------------------------------------

pid_t spawn(std::vector<std::string> argv) {
    std::vector<char*> args;
    for (auto& a : argv)
        args.push_back(a.data());
    args.push_back(nullptr);
    pid_t pid = 0;
    EXPECT_EQ(::posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ), 0);
    return pid;
}

class Restarts : public TempDir {};

TEST_F(Restarts, ByCommandAndNotReversible) {
    ActuatorConfig cfg;
    cfg.restarts = {{.service = "web",
                     .method = RestartMethod::command,
                     .command = {"/bin/sh", "-c", "echo restarted > " + (dir_ / "done").string()}}};
    RestartActuator act(cfg);
    auto plan = act.plan(action(ActionKind::restart, 0), {.service = "web"});
    ASSERT_TRUE(plan);
    EXPECT_EQ(plan->rfind("restart web: `/bin/sh -c ", 0), 0u) << *plan;
    auto c = act.apply(action(ActionKind::restart, 0), {.service = "web"});
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(slurp(dir_ / "done"), "restarted\n");
    auto rv = act.revert(*c, {.service = "web"});
    ASSERT_FALSE(rv);
    EXPECT_NE(rv.error().message.find("not reversible"), std::string::npos);
    EXPECT_FALSE(act.apply(action(ActionKind::restart, 0, "db"), {.service = "db"})) << "no method for db";
}

TEST_F(Restarts, CommandTimeoutIsBounded) {
    ActuatorConfig cfg;
    cfg.command_timeout = std::chrono::milliseconds(200);
    cfg.restarts = {{.service = "web", .method = RestartMethod::command, .command = {"/bin/sleep", "30"}}};
    RestartActuator act(cfg);
    auto t0 = std::chrono::steady_clock::now();
    auto r = act.apply(action(ActionKind::restart, 0), {.service = "web"});
    auto took = std::chrono::steady_clock::now() - t0;
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("timed out after 200 ms"), std::string::npos) << r.error().message;
    EXPECT_LT(took, std::chrono::seconds(3));
}

TEST_F(Restarts, BySignalThenStartCommand) {
    pid_t child = spawn({"/bin/sleep", "30"});
    ActuatorConfig cfg;
    cfg.restarts = {{.service = "web",
                     .method = RestartMethod::signal,
                     .signal = SIGTERM,
                     .start_command = {"/bin/sh", "-c", "echo started > " + (dir_ / "started").string()}}};
    RestartActuator act(cfg);
    ServiceTarget t{.service = "web", .main_pid = child};
    auto c = act.apply(action(ActionKind::restart, 0), t);
    ASSERT_TRUE(c) << c.error().message;
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    EXPECT_EQ(slurp(dir_ / "started"), "started\n");
    EXPECT_EQ(c->commands.at(0), "kill: SIGTERM to pid " + std::to_string(child));
}

TEST_F(Restarts, SignalIgnoredIsAnErrorAfterStopWait) {
    pid_t child = spawn({"/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"});
    ::usleep(200 * 1000); // let the shell set its trap
    ActuatorConfig cfg;
    cfg.restarts = {{.service = "web",
                     .method = RestartMethod::signal,
                     .stop_wait = std::chrono::milliseconds(300),
                     .start_command = {"/bin/sh", "-c", "touch " + (dir_ / "started").string()}}};
    RestartActuator act(cfg);
    auto r = act.apply(action(ActionKind::restart, 0), {.service = "web", .main_pid = child});
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("did not exit within 300 ms"), std::string::npos) << r.error().message;
    EXPECT_FALSE(fs::exists(dir_ / "started")) << "no second copy while the first still runs";
}

TEST_F(Restarts, BySystemd) {
    put(dir_ / "systemctl", "#!/bin/sh\nprintf '%s\\n' \"$*\" >> " + (dir_ / "argv.log").string() + "\n");
    fs::permissions(dir_ / "systemctl", fs::perms::owner_all);
    ActuatorConfig cfg;
    cfg.systemctl = (dir_ / "systemctl").string();
    cfg.restarts = {{.service = "web", .method = RestartMethod::systemd}};
    RestartActuator act(cfg);
    ASSERT_TRUE(act.apply(action(ActionKind::restart, 0), {.service = "web", .systemd_unit = "web.service"}));
    EXPECT_EQ(slurp(dir_ / "argv.log"), "restart web.service\n");
}

// --- facade and commands -----------------------------------------------------------------

TEST_F(Cgroups, FacadeDispatchesByKindAndHonoursDryRun) {
    cfg_.restarts = {{.service = "web", .method = RestartMethod::command, .command = {"/bin/true"}}};
    Actuators act(cfg_);
    auto dry = action(ActionKind::memory_max, 1 << 30);
    dry.dry_run = true;
    auto c = act.apply(dry, v2());
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_EQ(c->summary.rfind("dry run: cgroup v2 ", 0), 0u) << c->summary;
    EXPECT_EQ(slurp(v2_ / "memory.max"), "max\n");
    EXPECT_TRUE(act.revert(*c, v2()));
    auto real = act.apply(action(ActionKind::memory_max, 1 << 30), v2());
    ASSERT_TRUE(real);
    EXPECT_EQ(slurp(v2_ / "memory.max"), "1073741824");
    ASSERT_TRUE(act.revert(*real, v2()));
    EXPECT_EQ(slurp(v2_ / "memory.max"), "max");
    auto rs = act.apply(action(ActionKind::restart, 0), v2());
    ASSERT_TRUE(rs);
    EXPECT_FALSE(act.revert(*rs, v2())) << "a restart is not reversible";
    EXPECT_FALSE(act.apply(action(ActionKind::memory_max, 1, "db"), v2())) << "action and target disagree";
}

TEST(Command, ExitStatusOutputAndMissingProgram) {
    auto r = run_command({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, std::chrono::seconds(5));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exit_code, 3);
    EXPECT_EQ(r->output, "out\nerr\n");
    auto missing = run_command({"/no/such/program"}, std::chrono::seconds(1));
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("cannot run `/no/such/program`"), std::string::npos);
    EXPECT_EQ(format_argv({"nginx", "-g", "daemon off;"}), "nginx -g 'daemon off;'");
    // a daemon left behind (holding the pipe) does not hold the caller up
    auto t0 = std::chrono::steady_clock::now();
    auto bg = run_command({"/bin/sh", "-c", "sleep 2 & echo forked"}, std::chrono::seconds(4));
    ASSERT_TRUE(bg);
    EXPECT_TRUE(bg->succeeded());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
}

} // namespace
} // namespace homeostat::agent::actuators
