#include "agent/healing_config.h"

#include <cmath>
#include <csignal>
#include <cstring>
#include <set>

#include "agent/config.h"
#include "agent/config_reader.h"

#include <fmt/format.h>

namespace homeostat::agent {
namespace {

using nlohmann::json;

// Collects errors and keeps going: one run of `config check` shows every problem.
struct Errors {
    std::vector<std::string> list;
    void add(const std::string& key, const std::string& what) { list.push_back(key + ": " + what); }
};

bool text(const json& j, const std::string& where, std::string& out, Errors& e) {
    if (!j.is_string()) {
        e.add(where, "expected a string");
        return false;
    }
    out = j.get<std::string>();
    return true;
}

void text_list(const json& j, const std::string& where, std::vector<std::string>& out, Errors& e) {
    if (j.is_string()) { // one word is a one-word command
        out = {j.get<std::string>()};
        return;
    }
    if (!j.is_array()) {
        e.add(where, "expected a list of strings (an argv)");
        return;
    }
    out.clear();
    for (std::size_t i = 0; i < j.size(); ++i) {
        std::string s;
        if (j[i].is_number()) s = j[i].dump(); // [sleep, 1]
        else if (!text(j[i], where + "[" + std::to_string(i) + "]", s, e)) continue;
        out.push_back(s);
    }
}

void duration(const json& j, const std::string& where, std::chrono::milliseconds& out, Errors& e) {
    if (j.is_number() && j.get<double>() >= 0) {
        out = std::chrono::milliseconds(static_cast<std::int64_t>(j.get<double>() * 1000));
        return;
    }
    if (j.is_string()) {
        auto d = parse_duration(j.get<std::string>());
        if (d) {
            out = std::chrono::duration_cast<std::chrono::milliseconds>(d.value());
            return;
        }
        e.add(where, d.error().message);
        return;
    }
    e.add(where, "expected a duration such as 10s, or seconds");
}

int signal_number(const json& j, const std::string& where, Errors& e) {
    if (j.is_number_integer() && j.get<int>() > 0 && j.get<int>() < 65) return j.get<int>();
    std::string name = j.is_string() ? j.get<std::string>() : "";
    if (name.rfind("SIG", 0) == 0) name = name.substr(3);
    static const std::pair<const char*, int> names[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},
                                                        {"TERM", SIGTERM}, {"KILL", SIGKILL}, {"USR1", SIGUSR1},
                                                        {"USR2", SIGUSR2}};
    for (auto& [n, v] : names)
        if (name == n) return v;
    e.add(where, "expected a signal: HUP, INT, QUIT, TERM, KILL, USR1, USR2 or a number");
    return 0;
}

void absolute_path(const std::string& p, const std::string& where, Errors& e) {
    if (p.empty() || p[0] != '/') e.add(where, "must be an absolute path, got '" + p + "'");
}

void parse_files(const json& j, actuators::ActuatorConfig& a, Errors& e) {
    if (!j.is_array()) return e.add("healing.files", "expected a list of files");
    std::set<std::string> names;
    for (std::size_t i = 0; i < j.size(); ++i) {
        const std::string at = "healing.files[" + std::to_string(i) + "]";
        const json& f = j[i];
        if (!f.is_object()) {
            e.add(at, "expected a mapping (name, path, template, reload, ...)");
            continue;
        }
        ConfigReader{f, at, e.list}.known({"name", "service", "path", "template", "template_file", "vars",
                                           "check", "reload", "reload_signal", "reload_pidfile", "backup"});
        actuators::ConfigFileSpec s;
        if (f.contains("name")) text(f["name"], at + ".name", s.name, e);
        else e.add(at, "missing required key 'name'");
        if (f.contains("service")) text(f["service"], at + ".service", s.service, e);
        if (f.contains("path")) {
            if (text(f["path"], at + ".path", s.path, e)) absolute_path(s.path, at + ".path", e);
        } else
            e.add(at, "missing required key 'path'");
        if (f.contains("template")) text(f["template"], at + ".template", s.template_text, e);
        if (f.contains("template_file")) {
            if (text(f["template_file"], at + ".template_file", s.template_file, e))
                absolute_path(s.template_file, at + ".template_file", e);
        }
        if (s.template_text.empty() == s.template_file.empty())
            e.add(at, "needs exactly one of 'template' (inline text) and 'template_file'");
        if (f.contains("vars")) {
            if (!f["vars"].is_object()) e.add(at + ".vars", "expected a mapping of variable to value");
            else
                for (const auto& [k, v] : f["vars"].items())
                    s.vars[k] = v.is_string() ? v.get<std::string>() : v.dump();
        }
        if (f.contains("check")) text_list(f["check"], at + ".check", s.check, e);
        if (f.contains("reload")) text_list(f["reload"], at + ".reload", s.reload, e);
        if (f.contains("reload_signal")) s.reload_signal = signal_number(f["reload_signal"], at + ".reload_signal", e);
        if (f.contains("reload_pidfile")) text(f["reload_pidfile"], at + ".reload_pidfile", s.reload_pidfile, e);
        if (f.contains("backup")) text(f["backup"], at + ".backup", s.backup_path, e);
        if (!s.name.empty() && !names.insert(s.name).second) e.add(at + ".name", "'" + s.name + "' is used twice");
        a.files.push_back(std::move(s));
    }
}

void parse_restarts(const json& j, actuators::ActuatorConfig& a, Errors& e) {
    if (!j.is_array()) return e.add("healing.restart", "expected a list of services and how to restart them");
    for (std::size_t i = 0; i < j.size(); ++i) {
        const std::string at = "healing.restart[" + std::to_string(i) + "]";
        const json& r = j[i];
        if (!r.is_object()) {
            e.add(at, "expected a mapping (service, method, ...)");
            continue;
        }
        ConfigReader{r, at, e.list}.known(
            {"service", "method", "unit", "command", "signal", "pidfile", "stop_wait", "start_command"});
        actuators::RestartSpec s;
        if (r.contains("service")) text(r["service"], at + ".service", s.service, e);
        else e.add(at, "missing required key 'service'");
        std::string method;
        if (r.contains("method")) text(r["method"], at + ".method", method, e);
        else e.add(at, "missing required key 'method'");
        if (method == "systemd") s.method = actuators::RestartMethod::systemd;
        else if (method == "command") s.method = actuators::RestartMethod::command;
        else if (method == "signal") s.method = actuators::RestartMethod::signal;
        else if (!method.empty()) e.add(at + ".method", "expected systemd, command or signal, got '" + method + "'");
        if (r.contains("unit")) text(r["unit"], at + ".unit", s.unit, e);
        if (r.contains("command")) text_list(r["command"], at + ".command", s.command, e);
        if (r.contains("signal")) s.signal = signal_number(r["signal"], at + ".signal", e);
        if (r.contains("pidfile")) text(r["pidfile"], at + ".pidfile", s.pidfile, e);
        if (r.contains("stop_wait")) duration(r["stop_wait"], at + ".stop_wait", s.stop_wait, e);
        if (r.contains("start_command")) text_list(r["start_command"], at + ".start_command", s.start_command, e);
        if (s.method == actuators::RestartMethod::command && s.command.empty())
            e.add(at, "method command needs 'command' (an argv)");
        a.restarts.push_back(std::move(s));
    }
}

void parse_tuning(const json& j, HealingConfig& c, Errors& e) {
    if (!j.is_object()) return e.add("healing.tuning", "expected a mapping (targets, timeout_margin, ...)");
    ConfigReader{j, "healing.tuning", e.list}.known(
          {"targets", "timeout_margin", "timeout_min_ms", "timeout_max_ms", "target_failure", "retries_max",
           "breaker_factor", "bulkhead_headroom", "min_requests", "cooldown"});
    auto number = [&](const char* key, double& out, double min) {
        if (!j.contains(key)) return;
        if (!j[key].is_number() || j[key].get<double>() < min)
            return e.add(std::string("healing.tuning.") + key, "expected a number >= " + json(min).dump());
        out = j[key].get<double>();
    };
    auto& t = c.tuner;
    number("timeout_margin", t.timeout_margin, 1);
    number("timeout_min_ms", t.timeout_min_ms, 1);
    number("timeout_max_ms", t.timeout_max_ms, 1);
    number("target_failure", t.target_failure, 0);
    number("breaker_factor", t.breaker_factor, 1);
    number("bulkhead_headroom", t.bulkhead_headroom, 1);
    double retries = t.retries_max, min_requests = static_cast<double>(t.min_requests);
    number("retries_max", retries, 0);
    number("min_requests", min_requests, 1);
    t.retries_max = static_cast<std::uint32_t>(retries);
    t.min_requests = static_cast<std::uint64_t>(min_requests);
    if (j.contains("cooldown")) {
        std::chrono::milliseconds d{};
        duration(j["cooldown"], "healing.tuning.cooldown", d, e);
        t.cooldown_seconds = std::chrono::duration<double>(d).count();
    }
    if (t.timeout_min_ms > t.timeout_max_ms) e.add("healing.tuning.timeout_min_ms", "must be <= timeout_max_ms");
    if (!j.contains("targets")) return;
    if (!j["targets"].is_array()) return e.add("healing.tuning.targets", "expected a list of {service, upstream, file}");
    for (std::size_t i = 0; i < j["targets"].size(); ++i) {
        const std::string at = "healing.tuning.targets[" + std::to_string(i) + "]";
        const json& x = j["targets"][i];
        if (!x.is_object()) {
            e.add(at, "expected a mapping {service, upstream, file}");
            continue;
        }
        const ConfigReader keys{x, at, e.list};
        keys.known({"service", "upstream", "file", "dry_run"});
        TuningTarget tt;
        if (x.contains("service")) text(x["service"], at + ".service", tt.service, e);
        else e.add(at, "missing required key 'service'");
        if (x.contains("upstream")) text(x["upstream"], at + ".upstream", tt.upstream, e);
        if (x.contains("file")) text(x["file"], at + ".file", tt.file, e);
        else e.add(at, "missing required key 'file'");
        keys.boolean("dry_run", tt.dry_run);
        c.tuning.push_back(std::move(tt));
    }
}

// obj[key], if present, as a number within [min, max].
void number_in(const json& obj, const std::string& at, const char* key, double& out, double min, double max,
               Errors& e) {
    if (!obj.contains(key)) return;
    const json& v = obj[key];
    if (!v.is_number() || v.get<double>() < min || v.get<double>() > max)
        return e.add(at + "." + key, "expected a number from " + fmt::format("{:g}", min) + " to " +
                                         fmt::format("{:g}", max));
    out = v.get<double>();
}

void seconds(const json& j, const std::string& where, double& out, Errors& e) {
    std::chrono::milliseconds d{};
    duration(j, where, d, e);
    out = std::chrono::duration<double>(d).count();
}

void parse_load_balancing(const json& j, HealingConfig& c, Errors& e) {
    if (!j.is_array())
        return e.add("healing.load_balancing", "expected a list of {service, upstreams, file, ...}");
    for (std::size_t i = 0; i < j.size(); ++i) {
        const std::string at = "healing.load_balancing[" + std::to_string(i) + "]";
        const json& x = j[i];
        if (!x.is_object()) {
            e.add(at, "expected a mapping {service, upstreams, file, ...}");
            continue;
        }
        const ConfigReader keys{x, at, e.list};
        keys.known({"service", "upstreams", "file", "min_weight", "max_weight", "alpha", "min_requests", "cooldown",
               "min_change", "latency_floor", "dry_run"});
        engine::policy::LoadBalancingGroup g;
        if (x.contains("service")) text(x["service"], at + ".service", g.service, e);
        else e.add(at, "missing required key 'service'");
        if (x.contains("file")) text(x["file"], at + ".file", g.file, e);
        else e.add(at, "missing required key 'file'");
        if (!x.contains("upstreams")) e.add(at, "missing required key 'upstreams'");
        else {
            text_list(x["upstreams"], at + ".upstreams", g.upstreams, e);
            if (g.upstreams.empty()) e.add(at + ".upstreams", "expected at least one \"address:port\" (or a glob)");
            for (std::size_t k = 0; k < g.upstreams.size(); ++k) {
                const std::string& u = g.upstreams[k];
                if (u.find_first_of("*?") == std::string::npos && !engine::policy::LoadBalancer::valid_upstream(u))
                    e.add(at + ".upstreams[" + std::to_string(k) + "]",
                          "expected an IP address and port (\"127.0.0.1:8081\") or a glob, got '" + u + "'");
            }
        }
        number_in(x, at, "min_weight", g.health.min_weight, 1, 1000, e);
        number_in(x, at, "max_weight", g.health.max_weight, 1, 1000, e);
        number_in(x, at, "alpha", g.health.alpha, 0.01, 1, e);
        number_in(x, at, "min_change", g.min_change, 0, 1, e);
        double min_requests = static_cast<double>(g.min_requests);
        number_in(x, at, "min_requests", min_requests, 1, 1e9, e);
        g.min_requests = static_cast<std::uint64_t>(min_requests);
        g.health.min_weight = std::round(g.health.min_weight);
        g.health.max_weight = std::round(g.health.max_weight);
        if (g.health.min_weight > g.health.max_weight) e.add(at + ".min_weight", "must be <= max_weight");
        if (x.contains("cooldown")) seconds(x["cooldown"], at + ".cooldown", g.cooldown_seconds, e);
        if (x.contains("latency_floor")) seconds(x["latency_floor"], at + ".latency_floor", g.latency_floor_seconds, e);
        keys.boolean("dry_run", g.dry_run);
        if (!g.file.empty()) {
            bool found = false;
            for (const auto& f : c.actuators.files) found |= f.name == g.file;
            if (!found) e.add(at + ".file", "no healing.files entry named '" + g.file + "'");
            for (std::size_t k = 0; k < c.load_balancing.size(); ++k)
                if (c.load_balancing[k].file == g.file)
                    e.add(at + ".file", "'" + g.file + "' is already written by healing.load_balancing[" +
                                            std::to_string(k) + "]");
        }
        c.load_balancing.push_back(std::move(g));
    }
}

} // namespace

const nlohmann::json& default_rules_json() {
    static const json rules = json::parse(R"([
      {"name": "memory-growth",
       "match": {"anomaly": "memory_growth"},
       "action": {"kind": "memory_high", "op": "raise_pct", "amount": 20},
       "else": {"kind": "restart", "op": "restart", "before_exhaustion_seconds": 300},
       "verify": {"signal": "anomaly", "window_seconds": 600}},
      {"name": "noisy-neighbour",
       "match": {"anomaly": "cpu_saturation", "priority": "low",
                 "while": {"anomaly": "latency_spike", "priority": "high"}},
       "action": {"kind": "cpu_quota", "op": "lower_pct", "amount": 30, "min": 0.2},
       "verify": {"signal": "latency_p99", "service": "peer", "min_improvement": 0.1}}
    ])");
    return rules;
}

HealingConfig::HealingConfig() {
    json d = {{"enabled", true}, {"guardrails", {{"dry_run", true}}}, {"rules", default_rules_json()}};
    auto p = engine::policy::parse_policy(d);
    if (!p) throw std::logic_error("built-in healing rules do not parse: " + p.error().message);
    policy = std::move(p.value());
}

Result<HealingConfig> parse_healing(const nlohmann::json& j) {
    HealingConfig c;
    Errors e;
    if (j.is_null()) return c;
    if (!j.is_object()) return Error{"healing: expected a mapping"};
    json policy = json::object(), rest = json::object();
    static const std::set<std::string> policy_keys = {"enabled", "guardrails", "rules", "priorities"};
    for (const auto& [k, v] : j.items()) (policy_keys.count(k) ? policy : rest)[k] = v;
    // Enabled by default, as the built-in configuration is; rules default to the built-in ones.
    if (!policy.contains("enabled")) policy["enabled"] = true;
    if (!policy.contains("rules")) policy["rules"] = default_rules_json();
    if (auto p = engine::policy::parse_policy(policy); p) c.policy = std::move(p.value());
    else e.list.push_back(p.error().message);
    c.source = "healing section";

    ConfigReader{rest, "healing", e.list}.known(
          {"enabled", "guardrails", "rules", "priorities", "command_timeout", "systemctl", "cgroups", "files",
           "restart", "tuning", "load_balancing", "cpu_sharing", "recommender"});
    auto& a = c.actuators;
    if (rest.contains("command_timeout")) duration(rest["command_timeout"], "healing.command_timeout", a.command_timeout, e);
    if (rest.contains("systemctl")) {
        if (text(rest["systemctl"], "healing.systemctl", a.systemctl, e))
            absolute_path(a.systemctl, "healing.systemctl", e);
    }
    if (rest.contains("cgroups")) {
        const json& g = rest["cgroups"];
        if (!g.is_object()) e.add("healing.cgroups", "expected a mapping {allow: [...], units: [...]}");
        else {
            ConfigReader{g, "healing.cgroups", e.list}.known({"allow", "units"});
            if (g.contains("allow")) {
                text_list(g["allow"], "healing.cgroups.allow", a.cgroup_allow, e);
                for (std::size_t i = 0; i < a.cgroup_allow.size(); ++i)
                    absolute_path(a.cgroup_allow[i], "healing.cgroups.allow[" + std::to_string(i) + "]", e);
            }
            if (g.contains("units")) text_list(g["units"], "healing.cgroups.units", a.unit_allow, e);
        }
    }
    if (rest.contains("files")) parse_files(rest["files"], a, e);
    if (rest.contains("restart")) parse_restarts(rest["restart"], a, e);
    if (rest.contains("tuning")) parse_tuning(rest["tuning"], c, e);
    if (rest.contains("load_balancing")) parse_load_balancing(rest["load_balancing"], c, e); // after files
    if (rest.contains("cpu_sharing")) parse_cpu_sharing(rest["cpu_sharing"], c.cpu_sharing, e.list);
    if (rest.contains("recommender")) parse_recommender(rest["recommender"], c.recommender, e.list);
    for (std::size_t i = 0; i < c.tuning.size(); ++i) {
        bool found = false;
        for (const auto& f : a.files) found |= f.name == c.tuning[i].file;
        if (!found && !c.tuning[i].file.empty())
            e.add("healing.tuning.targets[" + std::to_string(i) + "].file",
                  "'" + c.tuning[i].file + "' is not one of healing.files");
    }
    for (std::size_t i = 0; i < c.policy.rules.size(); ++i) {
        const auto& r = c.policy.rules[i];
        for (const auto* act : {&r.action, r.fallback ? &*r.fallback : nullptr}) {
            if (!act || act->kind != engine::policy::ActionKind::config_file) continue;
            bool found = false;
            for (const auto& f : a.files) found |= f.name == act->target;
            if (!found)
                e.add("healing.rules[" + std::to_string(i) + "].action.target",
                      "'" + act->target + "' is not one of healing.files");
        }
    }
    if (!e.list.empty()) {
        std::string all;
        for (const auto& x : e.list) all += (all.empty() ? "" : "\n") + x;
        return Error{all};
    }
    return c;
}

} // namespace homeostat::agent
