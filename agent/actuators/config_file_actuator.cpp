#include "agent/actuators/config_file_actuator.h"

#include <cerrno>
#include <set>
#include <sstream>

#include "agent/actuators/command.h"
#include "agent/actuators/file_ops.h"
#include "agent/actuators/template.h"

namespace homeostat::agent::actuators {
namespace {

using engine::policy::Action;

Result<const ConfigFileSpec*> find_spec(const ActuatorConfig& cfg, const Action& a) {
    for (const auto& f : cfg.files) {
        if (f.name != a.target) continue;
        if (!f.service.empty() && f.service != a.service)
            return Error{"refusing config file " + f.name + " for service " + a.service + ": it belongs to " +
                         f.service};
        return &f;
    }
    return Error{"no configured file named \"" + a.target +
                 "\" (healing.files): only configured files are written"};
}

const ConfigFileSpec* spec_by_path(const ActuatorConfig& cfg, const std::string& path) {
    for (const auto& f : cfg.files)
        if (f.path == path) return &f;
    return nullptr;
}

std::string backup_of(const ConfigFileSpec& f) {
    return f.backup_path.empty() ? f.path + ".homeostat.bak" : f.backup_path;
}

Result<std::string> render(const ConfigFileSpec& f, const Action& a) {
    std::string text = f.template_text;
    if (!f.template_file.empty()) {
        auto t = read_file(f.template_file);
        if (!t) return Error{"rendering " + f.name + ": template " + t.error().describe()};
        text = *t;
    }
    auto vars = f.vars;
    for (const auto& [k, v] : a.vars)
        vars[k] = v;
    auto out = render_template(text, vars);
    if (!out)
        return Error{"rendering " + f.name + " failed: " + out.error().message + "; " + f.path +
                     " untouched"};
    return out;
}

// The current content; absent = "" (the Change convention).
Result<std::string> current(const ConfigFileSpec& f) {
    auto c = read_file(f.path);
    if (!c && c.error().err == ENOENT) return std::string();
    return c;
}

std::string reload_text(const ConfigFileSpec& f, const ServiceTarget& t) {
    if (!f.reload.empty()) return "`" + format_argv(f.reload) + "`";
    if (f.reload_signal) {
        std::string sig = signal_name(f.reload_signal);
        if (!f.reload_pidfile.empty()) return sig + " to the pid in " + f.reload_pidfile;
        return sig + " to pid " + std::to_string(f.reload_pid ? f.reload_pid : t.main_pid);
    }
    return "no reload";
}

// Runs the configured reload; what it did goes to `commands`.
Result<void> reload(const ConfigFileSpec& f, const ServiceTarget& t, const ActuatorConfig& cfg,
                    std::vector<std::string>& commands) {
    if (!f.reload.empty()) {
        commands.push_back(format_argv(f.reload));
        auto r = run_checked("reloading after " + f.name, f.reload, cfg.command_timeout);
        if (!r) return r.error();
        return {};
    }
    if (!f.reload_signal) return {};
    int pid = f.reload_pid ? f.reload_pid : t.main_pid;
    if (!f.reload_pidfile.empty()) {
        auto p = read_pidfile(f.reload_pidfile);
        if (!p) return Error{"reloading after " + f.name + ": " + p.error().describe()};
        pid = *p;
    }
    commands.push_back("kill: " + signal_text(f.reload_signal, pid));
    if (auto s = send_signal(pid, f.reload_signal); !s)
        return Error{"reloading after " + f.name + ": " + s.error().describe()};
    return {};
}

Result<void> put(const std::string& path, const std::string& content) {
    return content.empty() ? remove_file(path) : write_atomic(path, content);
}

// "-old / +new" lines (set difference, first few): enough to read in an audit line.
std::string line_changes(const std::string& before, const std::string& after) {
    auto lines = [](const std::string& s) {
        std::multiset<std::string> out;
        std::istringstream in(s);
        for (std::string l; std::getline(in, l);)
            out.insert(l);
        return out;
    };
    auto b = lines(before), a = lines(after);
    std::string out;
    int shown = 0;
    auto add = [&](char sign, const std::string& l) {
        if (shown++ < 8) out += std::string(out.empty() ? "" : " / ") + sign + l;
    };
    for (const auto& l : b)
        if (!a.contains(l)) add('-', l);
    for (const auto& l : a)
        if (!b.contains(l)) add('+', l);
    if (shown > 8) out += " / ... (" + std::to_string(shown) + " lines changed)";
    return out.empty() ? "no change" : out;
}

} // namespace

Result<std::string> ConfigFileActuator::plan(const Action& a, const ServiceTarget& t) const {
    auto f = find_spec(cfg_, a);
    if (!f) return f.error();
    auto text = render(**f, a);
    if (!text) return text.error();
    auto cur = current(**f);
    if (!cur) return cur.error();
    std::string out = "config file " + (*f)->name + " " + (*f)->path + ": " + line_changes(*cur, *text);
    if (*cur == *text) return out;
    out += "; backup " + backup_of(**f);
    if (!(*f)->check.empty()) out += "; check `" + format_argv((*f)->check) + "`";
    return out + "; reload " + reload_text(**f, t);
}

Result<Change> ConfigFileActuator::apply(const Action& a, const ServiceTarget& t) {
    auto fr = find_spec(cfg_, a);
    if (!fr) return fr.error();
    const ConfigFileSpec& f = **fr;
    auto text = render(f, a);
    if (!text) return text.error();
    auto before = current(f);
    if (!before) return before.error();
    Change c;
    c.kind = a.kind;
    c.summary = "config file " + f.name + " " + f.path + ": " + line_changes(*before, *text);
    if (*before == *text) return c; // nothing to write, nothing to reload

    const std::string backup = backup_of(f);
    if (!before->empty()) { // the backup gets the original's mode: it may hold secrets
        if (auto b = write_atomic(backup, *before, f.path); !b)
            return Error{"backing up " + f.path + " failed: " + b.error().describe() + "; file untouched"};
    }
    if (auto w = write_atomic(f.path, *text); !w)
        return Error{"writing " + f.path + " failed: " + w.error().describe()};

    auto restore = [&](const std::string& step, const Error& why) -> Error {
        std::string msg = step + " failed: " + why.message;
        if (auto r = put(f.path, *before); !r)
            return Error{msg + "; RESTORING " + f.path + " FAILED: " + r.error().describe() + " (backup in " +
                         backup + ")"};
        return Error{msg + "; previous content of " + f.path + " restored"};
    };
    if (!f.check.empty()) {
        c.commands.push_back(format_argv(f.check));
        if (auto r = run_checked("check of " + f.name, f.check, cfg_.command_timeout); !r)
            return restore("check", r.error()); // the service never read the new file: no reload
    }
    if (auto r = reload(f, t, cfg_, c.commands); !r) {
        Error e = restore("reload", r.error());
        std::vector<std::string> again;
        auto r2 = reload(f, t, cfg_, again);
        return Error{e.message + (r2 ? " and reloaded" : "; reloading it failed too: " + r2.error().message)};
    }
    c.before[f.path] = *before;
    c.after[f.path] = *text;
    return c;
}

Result<void> ConfigFileActuator::revert(const Change& c, const ServiceTarget& t) {
    std::string failures;
    for (const auto& [path, content] : c.before) {
        const ConfigFileSpec* f = spec_by_path(cfg_, path);
        if (!f) {
            failures += "; refusing to write " + path + ": not a configured file (healing.files)";
            continue;
        }
        if (auto w = put(path, content); !w) {
            failures += "; " + w.error().describe();
            continue;
        }
        std::vector<std::string> cmds;
        if (auto r = reload(*f, t, cfg_, cmds); !r) failures += "; " + r.error().message;
    }
    if (!failures.empty()) return Error{"reverting \"" + c.summary + "\" failed" + failures};
    return {};
}

} // namespace homeostat::agent::actuators
