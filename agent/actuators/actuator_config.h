// What the actuators may touch and how, as plain data. The daemon's config loader parses
// the `healing:` YAML section (docs/healing-actuators.md) into these structs; nothing here
// reads files. Every list is an allow-list: an empty one permits nothing.
#pragma once

#include <chrono>
#include <csignal>
#include <map>
#include <string>
#include <vector>

#include "agent/actuators/actuator.h"

namespace homeostat::agent::actuators {

// A file the config-file actuator may rewrite: the only paths it ever writes.
struct ConfigFileSpec {
    std::string name;                        // Action::target names it
    std::string service;                     // "" = any service may ask; else only this one
    std::string path;                        // absolute path of the rendered file
    std::string template_text;               // inline template with {{var}} placeholders, or
    std::string template_file;               // a file holding it (read at each apply)
    std::map<std::string, std::string> vars; // defaults; Action::vars override them
    std::vector<std::string> check;          // optional argv run after writing ("nginx -t ...")
    std::vector<std::string> reload;         // argv that makes the service read the file, or
    int reload_signal = 0;                   // a signal (SIGHUP) sent to
    std::string reload_pidfile;              //   the pid in this file, or
    int reload_pid = 0;                      //   this pid (0: ServiceTarget::main_pid)
    std::string backup_path;                 // "" = path + ".homeostat.bak"
};

enum class RestartMethod {
    none,    // not configured: restart is refused
    systemd, // systemctl restart <unit>
    command, // run an argv
    signal,  // signal the main pid, wait for it to exit, then optionally run start_command
};

struct RestartSpec {
    std::string service;
    RestartMethod method = RestartMethod::none;
    std::string unit;                          // systemd: "" = ServiceTarget::systemd_unit
    std::vector<std::string> command;          // command
    int signal = SIGTERM;                      // signal
    std::string pidfile;                       // signal: "" = ServiceTarget::main_pid
    std::chrono::milliseconds stop_wait{5000}; // signal: how long to wait for the exit
    std::vector<std::string> start_command;    // signal: optional, run after the exit
};

struct ActuatorConfig {
    // Cgroup directories (absolute; v2 or v1 controller dirs) beneath which limit files
    // may be written. Empty (the default): no cgroup is ever written. A prefix matches
    // whole path components: "/sys/fs/cgroup/web" does not admit "/sys/fs/cgroup/web2".
    std::vector<std::string> cgroup_allow;
    // Units whose limits may be changed with `systemctl set-property --runtime`. Empty:
    // none. A unit's cgroup is never written directly (systemd is its single writer).
    std::vector<std::string> unit_allow;
    std::string systemctl = "/bin/systemctl";
    // Bound on every command the actuators run (check, reload, systemctl, restart).
    std::chrono::milliseconds command_timeout{10000};
    std::vector<ConfigFileSpec> files;
    std::vector<RestartSpec> restarts;
};

// The actuators share one configuration, owned by the Actuators facade.
class ConfiguredActuator : public Actuator {
public:
    explicit ConfiguredActuator(const ActuatorConfig& cfg) : cfg_(cfg) {}

protected:
    const ActuatorConfig& cfg_;
};

} // namespace homeostat::agent::actuators
