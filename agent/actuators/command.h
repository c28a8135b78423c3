// Runs an argv with a time bound: the actuators' reloads, checks, systemctl and restarts.
// Synchronous: the caller waits up to `timeout` (plus a short kill grace), so the daemon
// must call it off the ring-buffer thread (docs/healing-actuators.md).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "agent/result.h"

namespace homeostat::agent::actuators {

struct CommandResult {
    int exit_code = -1;     // -1 when killed by a signal
    int term_signal = 0;    // the signal that ended it, 0 if it exited
    bool timed_out = false; // killed by us (SIGKILL to its process group) at the deadline
    std::string output;     // stdout and stderr, first 16 KiB

    bool succeeded() const { return !timed_out && exit_code == 0; }
};

// Error only when it could not be started (no such program, no argv). The command runs in
// its own process group with stdin from /dev/null and a default signal mask; its output
// is read until it exits (a daemon it leaves behind does not hold us up).
Result<CommandResult> run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

// As run_command, but any failure (cannot start, non-zero exit, signal, timeout) is an
// Error "<what> `<argv>` <how it failed>: <output tail>".
Result<CommandResult> run_checked(const std::string& what, const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout);

// The pid in a pidfile (first line), or an error naming the file.
Result<int> read_pidfile(const std::string& path);

// kill(pid, sig) with an error naming both; "SIGHUP to pid 42" for plans is signal_text.
Result<void> send_signal(int pid, int sig);
std::string signal_text(int sig, int pid);
std::string signal_name(int sig); // "SIGHUP"

// "nginx -s reload", arguments with spaces quoted: for plans and the audit.
std::string format_argv(const std::vector<std::string>& argv);

} // namespace homeostat::agent::actuators
