#include "filter/exec_child.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace mdcrypt {

namespace {

std::atomic<pid_t> g_child{0};

}  // namespace

void terminate_running_child() {
    const pid_t pid = g_child.load();
    if (pid > 0) ::kill(pid, SIGTERM);
}

ChildOutcome run_child_with_input(const std::vector<std::string>& argv, int input_fd) {
    if (argv.empty() || argv[0].empty() || argv[0][0] != '/')
        return {EX_TEMPFAIL, "--exec needs an absolute program path"};
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);

    // The child reports a failed execv through this close-on-exec pipe; a successful one closes it.
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) return {EX_TEMPFAIL, std::string("pipe: ") + std::strerror(errno)};
    const pid_t pid = ::fork();
    if (pid < 0) {
        const int e = errno;
        ::close(report[0]);
        ::close(report[1]);
        return {EX_TEMPFAIL, std::string("fork: ") + std::strerror(e)};
    }
    if (pid == 0) {
        ::close(report[0]);
        int e = 0;
        if (::lseek(input_fd, 0, SEEK_SET) < 0 || ::dup2(input_fd, STDIN_FILENO) < 0) e = errno;
        if (e == 0) {
            // Ignored and blocked signals survive execv: give the program a clean start (GPGME's
            // handles ignore SIGPIPE in this process).
            for (int signo : {SIGTERM, SIGINT, SIGHUP, SIGPIPE}) ::signal(signo, SIG_DFL);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::execv(args[0], args.data());
            e = errno;
        }
        [[maybe_unused]] const ssize_t n = ::write(report[1], &e, sizeof e);
        ::_exit(EX_TEMPFAIL);
    }
    g_child = pid;
    ::close(report[1]);
    int exec_errno = 0;
    ssize_t got;
    do got = ::read(report[0], &exec_errno, sizeof exec_errno);
    while (got < 0 && errno == EINTR);
    ::close(report[0]);

    int status = 0;
    pid_t waited;
    do waited = ::waitpid(pid, &status, 0);
    while (waited < 0 && errno == EINTR);
    g_child = 0;
    if (waited < 0) return {EX_TEMPFAIL, std::string("waitpid: ") + std::strerror(errno)};
    if (got == static_cast<ssize_t>(sizeof exec_errno))
        return {EX_TEMPFAIL, "cannot run " + argv[0] + ": " + std::strerror(exec_errno)};
    if (WIFEXITED(status)) return {WEXITSTATUS(status), ""};
    if (WIFSIGNALED(status))
        return {EX_TEMPFAIL, argv[0] + " was killed by signal " + std::to_string(WTERMSIG(status))};
    return {EX_TEMPFAIL, argv[0] + " ended with status " + std::to_string(status)};
}

}  // namespace mdcrypt
