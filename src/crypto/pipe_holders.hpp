// Finds the processes at the other end of our pipes. GPGME starts gpg through an intermediate child
// that exits at once, so its pid is never known to us; the pipes it was given are.
#pragma once

#include <sys/types.h>

#include <optional>
#include <span>
#include <vector>

namespace mdcrypt {

// The inode of a pipe (or FIFO) open as `fd`; nullopt for anything else.
std::optional<ino_t> pipe_inode(int fd);

// Every other process with one of `pipes` open, as far as /proc lets us see (own user, or root).
std::vector<pid_t> pipe_holders(std::span<const ino_t> pipes);

// Sends SIGKILL to each of pipe_holders(pipes); returns how many were sent.
std::size_t kill_pipe_holders(std::span<const ino_t> pipes);

}  // namespace mdcrypt
