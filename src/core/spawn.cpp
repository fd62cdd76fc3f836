#include "core/spawn.hpp"

#include <fcntl.h>
#include <unistd.h>

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

}  // namespace mdcrypt
