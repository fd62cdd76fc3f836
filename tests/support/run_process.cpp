#include "run_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace mdcrypt::test {

namespace {

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
    Fd& operator=(Fd&& o) noexcept {
        reset();
        fd_ = o.fd_;
        o.fd_ = -1;
        return *this;
    }
    ~Fd() { reset(); }
    int get() const { return fd_; }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

private:
    int fd_ = -1;
};

struct Pipe {
    Fd read;
    Fd write;
};

Pipe make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    return Pipe{Fd(fds[0]), Fd(fds[1])};
}

class FileActions {
public:
    FileActions() { posix_spawn_file_actions_init(&actions_); }
    ~FileActions() { posix_spawn_file_actions_destroy(&actions_); }
    FileActions(const FileActions&) = delete;
    FileActions& operator=(const FileActions&) = delete;
    posix_spawn_file_actions_t* get() { return &actions_; }

private:
    posix_spawn_file_actions_t actions_;
};

std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e) {
        const std::string entry(*e);
        const auto name = entry.substr(0, entry.find('=') + 1);
        bool overridden = false;
        for (const auto& x : extra)
            if (x.compare(0, name.size(), name) == 0) overridden = true;
        if (!overridden) env.push_back(entry);
    }
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
    std::vector<char*> out;
    for (auto& s : strings) out.push_back(s.data());
    out.push_back(nullptr);
    return out;
}

}  // namespace

std::string ProcessResult::describe() const {
    std::string s = signal ? "killed by signal " + std::to_string(signal) : "exit " + std::to_string(exit_code);
    return s + (err.empty() ? "" : ": " + err);
}

ProcessResult run_process(const std::vector<std::string>& argv, std::string_view input,
                          const std::vector<std::string>& extra_env) {
    if (argv.empty()) throw std::invalid_argument("run_process: empty argv");
    Pipe in = make_pipe(), out = make_pipe(), err = make_pipe();
    FileActions actions;
    posix_spawn_file_actions_adddup2(actions.get(), in.read.get(), 0);
    posix_spawn_file_actions_adddup2(actions.get(), out.write.get(), 1);
    posix_spawn_file_actions_adddup2(actions.get(), err.write.get(), 2);

    // The child may stop reading its stdin early: that must be EPIPE here, not death by SIGPIPE. The child
    // gets SIGPIPE back at its default.
    struct sigaction ignore{};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGPIPE, &ignore, nullptr);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
    ::fcntl(in.write.get(), F_SETFL, O_NONBLOCK);

    std::vector<std::string> args = argv;
    std::vector<std::string> env = environment_with(extra_env);
    std::vector<char*> arg_ptrs = pointers(args), env_ptrs = pointers(env);
    pid_t pid = 0;
    const int rc = ::posix_spawnp(&pid, args[0].c_str(), actions.get(), &attr, arg_ptrs.data(), env_ptrs.data());
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
    in.read.reset();
    out.write.reset();
    err.write.reset();

    ProcessResult result;
    std::size_t written = 0;
    if (input.empty()) in.write.reset();
    // Feed stdin and drain both outputs together, so no pipe fills up and blocks the child.
    while (out.read.get() >= 0 || err.read.get() >= 0 || in.write.get() >= 0) {
        std::array<pollfd, 3> fds{{{in.write.get(), POLLOUT, 0}, {out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}}};
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
        }
        if (fds[0].revents & (POLLOUT | POLLERR | POLLHUP)) {
            const ssize_t n = ::write(in.write.get(), input.data() + written, std::min<std::size_t>(input.size() - written, 65536));
            if (n < 0 && errno != EINTR && errno != EAGAIN) in.write.reset();  // EPIPE: the child stopped reading
            if (n > 0) written += static_cast<std::size_t>(n);
            if (written == input.size()) in.write.reset();
        }
        for (int i : {1, 2}) {
            if (!(fds[static_cast<std::size_t>(i)].revents & (POLLIN | POLLERR | POLLHUP))) continue;
            Fd& fd = i == 1 ? out.read : err.read;
            std::string& sink = i == 1 ? result.out : result.err;
            char buffer[65536];
            const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
            if (n > 0) sink.append(buffer, static_cast<std::size_t>(n));
            else if (n == 0 || errno != EINTR) fd.reset();
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
    return result;
}

}  // namespace mdcrypt::test
