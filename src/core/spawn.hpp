// Starting a program without a shell (posix_spawn): the pipes and file actions the tools that run
// helpers (doveadm, gpg --multifile) set up. Every descriptor here is close-on-exec; a child gets
// only what the file actions give it.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <spawn.h>
#include <string>
#include <vector>

#include "core/file_descriptor.hpp"

namespace mdcrypt {

struct Pipe {
    FileDescriptor read;
    FileDescriptor write;
};

// A close-on-exec pipe; throws std::runtime_error.
Pipe make_pipe();

class SpawnActions {
public:
    SpawnActions();
    ~SpawnActions();
    SpawnActions(const SpawnActions&) = delete;
    SpawnActions& operator=(const SpawnActions&) = delete;
    // The child's `target` is `fd`; dup_to(fd, fd) keeps `fd` open in the child only (POSIX; glibc
    // >= 2.29 clears its close-on-exec there). Throws std::runtime_error.
    void dup_to(int fd, int target);
    // The child starts in `dir`. Throws std::runtime_error.
    void chdir(const std::filesystem::path& dir);
    posix_spawn_file_actions_t* get() { return &actions_; }

private:
    posix_spawn_file_actions_t actions_;
};

// Starts argv[0] (a path, not searched) with `actions` and this process's environment; throws
// std::runtime_error naming the program.
pid_t spawn(const std::vector<std::string>& argv, SpawnActions& actions);

}  // namespace mdcrypt
