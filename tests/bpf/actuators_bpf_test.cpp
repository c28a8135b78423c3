// Actuators on the real host (root): cgroup v1 limits written to cgroups this test creates
// beneath its own (read back from the kernel's files, then reverted), and a real nginx
// (127.0.0.1, a free port, its own config in a temp dir) whose include file the
// config-file actuator rewrites with `nginx -t` as the check and `nginx -s reload` as the
// reload; a template nginx rejects is rolled back and nginx keeps serving.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/actuators/actuators.h"
#include "agent/actuators/command.h"
#include "tests/agent/actuator_actions.h"
#include "tests/bpf/child_cgroups.h"

extern char** environ;

namespace homeostat::agent::actuators {
namespace {

namespace fs = std::filesystem;
using agent::testing::slurp;
using engine::policy::Action;
using engine::policy::ActionKind;
using testing::action;

std::string trimmed(const std::string& p) {
    std::string s = slurp(p);
    while (!s.empty() && s.back() == '\n')
        s.pop_back();
    return s;
}

// --- cgroup v1 ---------------------------------------------------------------------------

class RealCgroupV1 : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(::geteuid(), 0u) << "this test needs root (it creates cgroups); CI runs it as root";
        service_ = "hs-act-" + std::to_string(::getpid()) + ".service";
        ASSERT_TRUE(cg_.create(service_, {"cpu", "memory", "pids"}));
        ProcessCgroups p = cg_.child;
        p.v2 = cg_.own.v2; // this host's v2 hierarchy has no controllers: v1 must be chosen
        target_ = cgroup_target(service_, cg_.mounts, p);
        cfg_.cgroup_allow = {cg_.dir("cpu"), cg_.dir("memory"), cg_.dir("pids")};
    }
    void TearDown() override { EXPECT_TRUE(cg_.remove()); }

    agent::testing::ChildCgroups cg_;
    std::string service_;
    ServiceTarget target_;
    ActuatorConfig cfg_;
};

TEST_F(RealCgroupV1, CpuQuotaMemoryAndPidsReadBackAndRevert) {
    Actuators act(cfg_);
    const std::string quota = cg_.dir("cpu") + "/cpu.cfs_quota_us";
    const std::string period = cg_.dir("cpu") + "/cpu.cfs_period_us";
    const std::string limit = cg_.dir("memory") + "/memory.limit_in_bytes";
    const std::string soft = cg_.dir("memory") + "/memory.soft_limit_in_bytes";
    const std::string pids = cg_.dir("pids") + "/pids.max";
    ASSERT_EQ(trimmed(quota), "-1");
    const std::string unlimited = trimmed(limit);

    auto q = act.apply(action(ActionKind::cpu_quota, 0.25, service_), target_);
    ASSERT_TRUE(q) << q.error().describe();
    EXPECT_EQ(std::stoll(trimmed(quota)), std::stoll(trimmed(period)) / 4);
    EXPECT_EQ(q->before.at(quota), "-1");

    // 96 MiB + 100 bytes: the kernel rounds down to a page, and after says so
    auto m = act.apply(action(ActionKind::memory_max, (96 << 20) + 100, service_), target_);
    ASSERT_TRUE(m) << m.error().describe();
    EXPECT_EQ(trimmed(limit), std::to_string(96 << 20));
    EXPECT_EQ(m->after.at(limit), std::to_string(96 << 20));
    auto h = act.apply(action(ActionKind::memory_high, 64 << 20, service_), target_);
    ASSERT_TRUE(h) << h.error().describe();
    EXPECT_EQ(trimmed(soft), std::to_string(64 << 20));
    auto w = act.apply(action(ActionKind::cpu_weight, 50, service_), target_);
    ASSERT_TRUE(w) << w.error().describe();
    EXPECT_EQ(trimmed(cg_.dir("cpu") + "/cpu.shares"), "512");
    auto p = act.apply(action(ActionKind::pids_max, 33, service_), target_);
    ASSERT_TRUE(p) << p.error().describe();
    EXPECT_EQ(trimmed(pids), "33");

    for (auto* c : {&p, &w, &h, &m, &q})
        ASSERT_TRUE(act.revert(**c, target_)) << (*c)->summary;
    EXPECT_EQ(trimmed(quota), "-1");
    EXPECT_EQ(trimmed(limit), unlimited);
    EXPECT_EQ(trimmed(soft), unlimited);
    EXPECT_EQ(trimmed(cg_.dir("cpu") + "/cpu.shares"), "1024");
    EXPECT_EQ(trimmed(pids), "max");
}

TEST_F(RealCgroupV1, RefusalAndAVanishedCgroup) {
    cfg_.cgroup_allow = {cg_.dir("cpu")};
    Actuators act(cfg_);
    const std::string limit = cg_.dir("memory") + "/memory.limit_in_bytes";
    const std::string before = trimmed(limit);
    auto r = act.apply(action(ActionKind::memory_max, 32 << 20, service_), target_);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("not beneath healing.cgroups.allow"), std::string::npos)
        << r.error().message;
    EXPECT_EQ(trimmed(limit), before);

    auto q = act.apply(action(ActionKind::cpu_quota, 0.5, service_), target_);
    ASSERT_TRUE(q) << q.error().describe();
    ASSERT_EQ(::rmdir(cg_.dir("cpu").c_str()), 0) << "the service goes away";
    auto again = act.apply(action(ActionKind::cpu_quota, 0.1, service_), target_);
    ASSERT_FALSE(again);
    EXPECT_NE(again.error().message.find("cgroup " + cg_.dir("cpu") + " of service " + service_ + " is gone"),
              std::string::npos)
        << again.error().message;
    EXPECT_EQ(again.error().message.rfind("cgroup vanished: ", 0), 0u) << again.error().message; // what the audit shows
    auto rv = act.revert(*q, target_);
    ASSERT_FALSE(rv);
    EXPECT_NE(rv.error().message.find("is gone"), std::string::npos);
    ASSERT_EQ(::mkdir(cg_.dir("cpu").c_str(), 0755), 0) << "so that TearDown's rmdir finds it";
}

// --- nginx -------------------------------------------------------------------------------

int free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

// One HTTP/1.0 GET; the status line, or "" when nothing answers.
std::string http_get(int port) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{2, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        std::string req = "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n";
        ::send(s, req.data(), req.size(), MSG_NOSIGNAL);
        char buf[512];
        ssize_t n;
        while ((n = ::recv(s, buf, sizeof buf, 0)) > 0)
            out.append(buf, n);
    }
    ::close(s);
    return out.substr(0, out.find("\r\n"));
}

class RealNginx : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_EQ(::geteuid(), 0u) << "this test runs nginx as root like the e2e tests; CI runs it as root";
        ASSERT_TRUE(fs::exists(kNginx))
            << kNginx << " missing: install nginx-light (scripts/install-deps.sh)";
        std::string t = (fs::temp_directory_path() / "hs-act-nginx-XXXXXX").string();
        ASSERT_NE(::mkdtemp(t.data()), nullptr);
        d_ = t;
        port_ = free_port();
        include_ = (d_ / "timeouts.conf").string();
        std::ofstream(include_) << "proxy_read_timeout 60s;\n";
        conf_ = (d_ / "nginx.conf").string();
        std::ofstream(conf_) << "user root;\ndaemon off;\nmaster_process on;\nworker_processes 1;\n"
                                "error_log "
                             << (d_ / "error.log").string() << " notice;\npid " << (d_ / "nginx.pid").string()
                             << ";\nevents { worker_connections 64; }\nhttp {\n    access_log off;\n"
                                "    client_body_temp_path "
                             << (d_ / "cb").string() << ";\n    proxy_temp_path " << (d_ / "px").string()
                             << ";\n    fastcgi_temp_path " << (d_ / "fc").string()
                             << ";\n    uwsgi_temp_path " << (d_ / "uw").string() << ";\n    scgi_temp_path "
                             << (d_ / "sc").string() << ";\n    server {\n        listen 127.0.0.1:" << port_
                             << ";\n        include " << include_
                             << ";\n        location / { return 200 \"ok\\n\"; }\n    }\n}\n";
        std::vector<std::string> argv = nginx({});
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        ASSERT_EQ(::posix_spawn(&master_, args[0], nullptr, nullptr, args.data(), environ), 0);
        for (int i = 0; i < 100 && http_get(port_).empty(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        ASSERT_EQ(http_get(port_), "HTTP/1.1 200 OK") << slurp((d_ / "error.log").string());

        ConfigFileSpec f;
        f.name = "nginx-timeouts";
        f.service = "nginx";
        f.path = include_;
        f.template_text = "proxy_read_timeout {{timeout_s}}s;\n";
        f.check = nginx({"-t"});
        f.reload = nginx({"-s", "reload"});
        cfg_.files = {f};
        cfg_.command_timeout = std::chrono::seconds(15);
    }
    void TearDown() override {
        if (master_ > 0) {
            ::kill(master_, SIGTERM);
            int status = 0;
            ::waitpid(master_, &status, 0);
        }
        if (!d_.empty()) fs::remove_all(d_);
    }
    std::vector<std::string> nginx(std::vector<std::string> extra) const {
        std::vector<std::string> argv = {
            kNginx, "-p", d_.string(), "-c", conf_, "-e", (d_ / "error.log").string()};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return argv;
    }
    std::string dump() const { // nginx -T: the configuration as nginx parses it
        auto r = run_command(nginx({"-T"}), std::chrono::seconds(15));
        return r ? r->output : r.error().message;
    }
    Action set(const std::string& timeout) const {
        Action a = action(ActionKind::config_file, 0, "nginx");
        a.target = "nginx-timeouts";
        a.vars = {{"timeout_s", timeout}};
        return a;
    }
    // How many reloads the master has logged ("signal 1 (SIGHUP) received ..., reconfiguring").
    int reloads() const {
        std::string log = slurp((d_ / "error.log").string());
        int n = 0;
        const std::string line = "(SIGHUP) received";
        for (auto p = log.find(line); p != std::string::npos; p = log.find(line, p + 1))
            ++n;
        return n;
    }
    void wait_reloads(int n) const {
        for (int i = 0; i < 100 && reloads() < n; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }

    static constexpr const char* kNginx = "/usr/sbin/nginx";
    fs::path d_;
    std::string conf_, include_;
    int port_ = 0;
    pid_t master_ = 0;
    ActuatorConfig cfg_;
};

TEST_F(RealNginx, IncludeRewrittenCheckedReloadedAndReverted) {
    Actuators act(cfg_);
    ServiceTarget t{.service = "nginx", .main_pid = master_};
    auto c = act.apply(set("7"), t);
    ASSERT_TRUE(c) << c.error().describe();
    EXPECT_EQ(slurp(include_), "proxy_read_timeout 7s;\n");
    EXPECT_NE(dump().find("proxy_read_timeout 7s;"), std::string::npos);
    wait_reloads(1);
    EXPECT_EQ(reloads(), 1) << slurp((d_ / "error.log").string());
    EXPECT_EQ(http_get(port_), "HTTP/1.1 200 OK");

    ASSERT_TRUE(act.revert(*c, t));
    EXPECT_EQ(slurp(include_), "proxy_read_timeout 60s;\n");
    EXPECT_NE(dump().find("proxy_read_timeout 60s;"), std::string::npos);
    wait_reloads(2);
    EXPECT_EQ(reloads(), 2);
    EXPECT_EQ(http_get(port_), "HTTP/1.1 200 OK");
}

TEST_F(RealNginx, RejectedTemplateIsRolledBackAndNginxKeepsServing) {
    Actuators act(cfg_);
    ServiceTarget t{.service = "nginx", .main_pid = master_};
    auto good = act.apply(set("9"), t);
    ASSERT_TRUE(good) << good.error().describe();
    wait_reloads(1);

    auto bad = act.apply(set("soon"), t); // "proxy_read_timeout soons;": nginx -t says invalid
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message.rfind("check failed: ", 0), 0u) << bad.error().message;
    EXPECT_NE(bad.error().message.find("nginx"), std::string::npos) << "the check's output is in the error";
    EXPECT_EQ(slurp(include_), "proxy_read_timeout 9s;\n") << "previous include restored";
    EXPECT_NE(dump().find("proxy_read_timeout 9s;"), std::string::npos);
    EXPECT_EQ(http_get(port_), "HTTP/1.1 200 OK");
    EXPECT_EQ(reloads(), 1) << "no reload for a file that failed its check";

    // a broken template (missing variable) never reaches the file
    Action missing = set("1");
    missing.vars.clear();
    auto m = act.apply(missing, t);
    ASSERT_FALSE(m);
    EXPECT_NE(m.error().message.find("timeout_s"), std::string::npos);
    EXPECT_EQ(slurp(include_), "proxy_read_timeout 9s;\n");

    // reload by SIGHUP to the master (pidfile), the other reload form
    cfg_.files[0].reload.clear();
    cfg_.files[0].reload_signal = SIGHUP;
    cfg_.files[0].reload_pidfile = (d_ / "nginx.pid").string();
    Actuators hup(cfg_);
    auto h = hup.apply(set("11"), t);
    ASSERT_TRUE(h) << h.error().describe();
    EXPECT_EQ(h->commands.back(), "kill: SIGHUP to pid " + std::to_string(master_));
    wait_reloads(2);
    EXPECT_EQ(reloads(), 2);
    EXPECT_EQ(http_get(port_), "HTTP/1.1 200 OK");
}

} // namespace
} // namespace homeostat::agent::actuators
