#include "core/spawn.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace mdcrypt {

namespace {

void check(int rc) {
    if (rc != 0) throw std::runtime_error(std::string("posix_spawn_file_actions: ") + std::strerror(rc));
}

}  // namespace

Pipe make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    return {FileDescriptor(fds[0]), FileDescriptor(fds[1])};
}

SpawnActions::SpawnActions() { check(::posix_spawn_file_actions_init(&actions_)); }

SpawnActions::~SpawnActions() { ::posix_spawn_file_actions_destroy(&actions_); }

void SpawnActions::dup_to(int fd, int target) { check(::posix_spawn_file_actions_adddup2(&actions_, fd, target)); }

void SpawnActions::chdir(const std::filesystem::path& dir) {
    check(::posix_spawn_file_actions_addchdir_np(&actions_, dir.c_str()));
}

pid_t spawn(const std::vector<std::string>& argv, SpawnActions& actions) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, args[0], actions.get(), nullptr, args.data(), environ);
    if (rc != 0) throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
    return pid;
}

CapturedOutput capture_output(const FileDescriptor& out, const FileDescriptor& err, std::size_t out_limit,
                              std::size_t err_limit, std::chrono::steady_clock::time_point deadline) {
    CapturedOutput captured;
    pollfd fds[2] = {{out.get(), POLLIN, 0}, {err.get(), POLLIN, 0}};
    int open_count = 2;
    char chunk[65536];
    while (open_count > 0) {
        int wait_ms = -1;
        if (deadline != std::chrono::steady_clock::time_point::max()) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                captured.timed_out = true;
                break;
            }
            wait_ms = static_cast<int>(std::min<long long>(left.count(), 1000));
        }
        const int ready = ::poll(fds, 2, wait_ms);
        if (ready < 0 && errno != EINTR) break;
        if (ready <= 0) continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            const ssize_t n = ::read(fds[i].fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                fds[i].fd = -1;
                --open_count;
                continue;
            }
            const auto got = static_cast<std::size_t>(n);
            if (i == 0) {
                captured.out.append(chunk, std::min(got, out_limit - std::min(out_limit, captured.out.size())));
            } else {
                captured.err.append(chunk, got);
                if (captured.err.size() > err_limit) captured.err.erase(0, captured.err.size() - err_limit);
            }
        }
    }
    captured.closed = open_count == 0;
    return captured;
}

int wait_for_child(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return status;
}

std::string describe_wait_status(int status) {
    if (status < 0) return "lost";
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "ended";
}

}  // namespace mdcrypt
