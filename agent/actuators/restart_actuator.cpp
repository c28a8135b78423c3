#include "agent/actuators/restart_actuator.h"

#include <chrono>
#include <thread>

#include "agent/actuators/command.h"
#include "agent/actuators/file_ops.h"

namespace homeostat::agent::actuators {
namespace {

using engine::policy::Action;

Result<const RestartSpec*> find_spec(const ActuatorConfig& cfg, const std::string& service) {
    for (const auto& r : cfg.restarts)
        if (r.service == service && r.method != RestartMethod::none) return &r;
    return Error{"no restart method configured for service " + service +
                 " (healing.restart): restart refused"};
}

Result<std::string> unit_of(const RestartSpec& r, const ServiceTarget& t) {
    std::string unit = r.unit.empty() ? t.systemd_unit : r.unit;
    if (unit.empty())
        return Error{"restart of " + r.service +
                     " by systemd: no unit configured and none known for the service"};
    return unit;
}

Result<int> pid_of(const RestartSpec& r, const ServiceTarget& t) {
    if (!r.pidfile.empty()) return read_pidfile(r.pidfile);
    if (t.main_pid <= 0)
        return Error{"restart of " + r.service + " by signal: its main pid is unknown (configure a pidfile)"};
    return t.main_pid;
}

// Gone or a zombie: either way it has stopped serving.
bool exited(int pid) {
    auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return true;
    auto paren = stat->rfind(')');
    return paren == std::string::npos || paren + 2 >= stat->size() || (*stat)[paren + 2] == 'Z' ||
           (*stat)[paren + 2] == 'X';
}

} // namespace

Result<std::string> RestartActuator::plan(const Action& a, const ServiceTarget& t) const {
    auto r = find_spec(cfg_, a.service);
    if (!r) return r.error();
    const RestartSpec& s = **r;
    std::string out = "restart " + a.service + ": ";
    switch (s.method) {
    case RestartMethod::systemd: {
        auto unit = unit_of(s, t);
        if (!unit) return unit.error();
        return out + "`" + format_argv({cfg_.systemctl, "restart", *unit}) + "`";
    }
    case RestartMethod::command: return out + "`" + format_argv(s.command) + "`";
    case RestartMethod::signal: {
        std::string who = s.pidfile.empty() ? signal_text(s.signal, t.main_pid)
                                            : signal_name(s.signal) + " to the pid in " + s.pidfile;
        out += who + ", wait up to " + std::to_string(s.stop_wait.count()) + " ms for it to exit";
        return s.start_command.empty() ? out : out + ", then `" + format_argv(s.start_command) + "`";
    }
    default: return Error{"no restart method configured for service " + a.service};
    }
}

Result<Change> RestartActuator::apply(const Action& a, const ServiceTarget& t) {
    auto r = find_spec(cfg_, a.service);
    if (!r) return r.error();
    const RestartSpec& s = **r;
    Change c;
    c.kind = a.kind;
    auto run = [&](const std::vector<std::string>& argv) -> Result<void> {
        c.commands.push_back(format_argv(argv));
        auto res = run_checked("restart of " + a.service, argv, cfg_.command_timeout);
        if (!res) return res.error();
        return {};
    };
    switch (s.method) {
    case RestartMethod::systemd: {
        auto unit = unit_of(s, t);
        if (!unit) return unit.error();
        if (auto x = run({cfg_.systemctl, "restart", *unit}); !x) return x.error();
        break;
    }
    case RestartMethod::command:
        if (auto x = run(s.command); !x) return x.error();
        break;
    case RestartMethod::signal: {
        auto pid = pid_of(s, t);
        if (!pid) return pid.error();
        c.commands.push_back("kill: " + signal_text(s.signal, *pid));
        if (auto k = send_signal(*pid, s.signal); !k)
            return Error{"restart of " + a.service + ": " + k.error().describe()};
        const auto deadline = std::chrono::steady_clock::now() + s.stop_wait;
        while (!exited(*pid)) {
            if (std::chrono::steady_clock::now() >= deadline)
                return Error{"restart of " + a.service + ": pid " + std::to_string(*pid) +
                             " did not exit within " + std::to_string(s.stop_wait.count()) + " ms of " +
                             signal_text(s.signal, *pid)};
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        if (!s.start_command.empty())
            if (auto x = run(s.start_command); !x) return x.error();
        break;
    }
    default: return Error{"no restart method configured for service " + a.service};
    }
    c.summary = "restarted " + a.service + " (" + c.commands.front() + ")";
    return c;
}

Result<void> RestartActuator::revert(const Change& c, const ServiceTarget&) {
    return Error{"\"" + c.summary + "\" is not reversible: a restart cannot be undone"};
}

} // namespace homeostat::agent::actuators
