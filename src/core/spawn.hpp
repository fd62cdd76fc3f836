// Starting a program without a shell (posix_spawn): the pipes and file actions the tools that run
// helpers (doveadm, gpg --multifile) set up. Every descriptor here is close-on-exec; a child gets
// only what the file actions give it.
#pragma once

#include <sys/types.h>

#include <chrono>
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

struct CapturedOutput {
    std::string out;         // the first out_limit bytes of stdout
    std::string err;         // the last err_limit bytes of stderr
    bool closed = false;     // both pipes closed (the child is gone or closed them)
    bool timed_out = false;  // the deadline passed before they did
};

// Reads a child's stdout and stderr pipes until both close or `deadline` passes; memory stays
// within the limits whatever the child writes.
CapturedOutput capture_output(const FileDescriptor& out, const FileDescriptor& err, std::size_t out_limit,
                              std::size_t err_limit,
                              std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());

// waitpid() for `pid`, retried on EINTR; the raw wait status, or -1 when it cannot be had.
int wait_for_child(pid_t pid);

// "exit 2", "killed by signal 9": a wait status for people.
std::string describe_wait_status(int status);

}  // namespace mdcrypt
