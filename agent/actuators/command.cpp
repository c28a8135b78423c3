#include "agent/actuators/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "agent/actuators/file_ops.h"
#include "agent/fd.h"
#include "agent/self_limits.h"

extern char** environ;

namespace homeostat::agent::actuators {
namespace {

constexpr std::size_t kMaxOutput = 16 * 1024;

void drain(int fd, std::string& out) {
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) return; // EAGAIN, EOF or error: nothing more now
        if (out.size() < kMaxOutput) out.append(buf, std::min<std::size_t>(n, kMaxOutput - out.size()));
    }
}

void record_status(int status, CommandResult& r) {
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
}

} // namespace

std::string format_argv(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        bool plain = !a.empty() && a.find_first_of(" \t\n'\"\\$;&|<>*?") == std::string::npos;
        if (plain) {
            out += a;
            continue;
        }
        out += '\'';
        for (char c : a)
            out += c == '\'' ? std::string("'\\''") : std::string(1, c);
        out += '\'';
    }
    return out;
}

Result<int> read_pidfile(const std::string& path) {
    auto text = read_value(path);
    if (!text) return text.error();
    char* end = nullptr;
    long pid = std::strtol(text->c_str(), &end, 10);
    if (end == text->c_str() || pid <= 0)
        return Error{"pidfile " + path + " holds no pid (\"" + *text + "\")"};
    return static_cast<int>(pid);
}

std::string signal_name(int sig) {
    const char* name = ::sigabbrev_np(sig);
    return name ? std::string("SIG") + name : "signal " + std::to_string(sig);
}

std::string signal_text(int sig, int pid) {
    return signal_name(sig) + " to pid " + std::to_string(pid);
}

Result<void> send_signal(int pid, int sig) {
    if (pid <= 0) return Error{"no pid to signal: the service's main pid is unknown (configure a pidfile)"};
    if (::kill(pid, sig) != 0)
        return Error{"cannot send " + signal_text(sig, pid) +
                         (errno == ESRCH ? ": no such process (it exited?)" : ""),
                     errno};
    return {};
}

Result<CommandResult> run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    if (argv.empty() || argv[0].empty()) return Error{"no command given (empty argv)"};
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0)
        return Error{"cannot create a pipe for `" + format_argv(argv) + "`", errno};
    Fd rd(pipefd[0]), wr(pipefd[1]);
    ::fcntl(rd.get(), F_SETFL, O_NONBLOCK); // our end only: the command's stdout blocks as usual

    // posix_spawn, not fork: safe in a multi-threaded daemon.
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, wr.get(), 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);   // the daemon may block signals in threads
    posix_spawnattr_setsigdefault(&attr, &all); // and ignore SIGPIPE
    posix_spawnattr_setpgroup(&attr, 0);        // own group: a timeout kills its children too
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);

    std::vector<char*> args;
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = 0;
    int rc = 0;
    {
        SelfLimitsSpawn outside; // a restarted service belongs to the host, not to the daemon's own box
        rc = ::posix_spawnp(&pid, args[0], &fa, &attr, args.data(), environ);
        outside.spawned(rc == 0 ? pid : 0);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return Error{"cannot run `" + format_argv(argv) + "`: " + std::strerror(rc), rc};
    wr = Fd(); // our copy of the write end: EOF once the command and its children close it

    CommandResult r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        pid_t w = ::waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            drain(rd.get(), r.output);
            record_status(status, r);
            return r;
        }
        if (w < 0 && errno != EINTR) return Error{"waiting for `" + format_argv(argv) + "` failed", errno};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            ::kill(-pid, SIGKILL);
            ::waitpid(pid, &status, 0); // SIGKILL cannot be ignored: this returns
            drain(rd.get(), r.output);
            record_status(status, r);
            r.exit_code = -1;
            r.timed_out = true;
            return r;
        }
        pollfd p{rd.get(), POLLIN, 0};
        // Short slices: the exit is noticed even when a child keeps the pipe open.
        if (::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 20))) > 0) drain(rd.get(), r.output);
    }
}

Result<CommandResult> run_checked(const std::string& what, const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout) {
    auto r = run_command(argv, timeout);
    if (!r) return Error{what + ": " + r.error().message, r.error().err};
    if (r->succeeded()) return r;
    std::string how = r->timed_out     ? "timed out after " + std::to_string(timeout.count()) + " ms (killed)"
                      : r->term_signal ? "was killed by signal " + std::to_string(r->term_signal)
                                       : "exited with status " + std::to_string(r->exit_code);
    std::string tail = r->output.size() > 2000 ? r->output.substr(r->output.size() - 2000) : r->output;
    while (!tail.empty() && (tail.back() == '\n' || tail.back() == ' '))
        tail.pop_back();
    return Error{what + " `" + format_argv(argv) + "` " + how + (tail.empty() ? "" : ": " + tail)};
}

} // namespace homeostat::agent::actuators
