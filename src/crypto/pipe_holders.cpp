#include "crypto/pipe_holders.hpp"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <string>
#include <string_view>

namespace mdcrypt {

namespace {

struct DirCloser {
    void operator()(DIR* dir) const noexcept { ::closedir(dir); }
};
using Dir = std::unique_ptr<DIR, DirCloser>;

std::optional<pid_t> as_pid(std::string_view name) {
    pid_t pid = 0;
    const auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), pid);
    if (error != std::errc() || end != name.data() + name.size() || pid <= 0) return std::nullopt;
    return pid;
}

// "pipe:[12345]", as /proc/PID/fd/N reads for a pipe.
std::optional<ino_t> pipe_link_inode(std::string_view link) {
    constexpr std::string_view prefix = "pipe:[";
    if (!link.starts_with(prefix) || !link.ends_with(']')) return std::nullopt;
    link = link.substr(prefix.size(), link.size() - prefix.size() - 1);
    ino_t inode = 0;
    const auto [end, error] = std::from_chars(link.data(), link.data() + link.size(), inode);
    if (error != std::errc() || end != link.data() + link.size()) return std::nullopt;
    return inode;
}

bool holds_any(pid_t pid, std::span<const ino_t> pipes) {
    const std::string fd_dir = "/proc/" + std::to_string(pid) + "/fd";
    Dir dir(::opendir(fd_dir.c_str()));
    if (!dir) return false;  // gone, or not ours to see
    while (const dirent* entry = ::readdir(dir.get())) {
        if (entry->d_name[0] == '.') continue;
        char link[64];
        const std::string path = fd_dir + "/" + entry->d_name;
        const ssize_t n = ::readlink(path.c_str(), link, sizeof link);
        if (n <= 0 || static_cast<std::size_t>(n) >= sizeof link) continue;
        const auto inode = pipe_link_inode(std::string_view(link, static_cast<std::size_t>(n)));
        if (inode && std::find(pipes.begin(), pipes.end(), *inode) != pipes.end()) return true;
    }
    return false;
}

}  // namespace

std::optional<ino_t> pipe_inode(int fd) {
    struct stat st{};
    if (::fstat(fd, &st) != 0 || !S_ISFIFO(st.st_mode)) return std::nullopt;
    return st.st_ino;
}

std::vector<pid_t> pipe_holders(std::span<const ino_t> pipes) {
    std::vector<pid_t> found;
    if (pipes.empty()) return found;
    Dir proc(::opendir("/proc"));
    if (!proc) return found;
    const pid_t self = ::getpid();
    while (const dirent* entry = ::readdir(proc.get())) {
        const auto pid = as_pid(entry->d_name);
        if (!pid || *pid == self) continue;
        if (holds_any(*pid, pipes)) found.push_back(*pid);
    }
    return found;
}

std::size_t kill_pipe_holders(std::span<const ino_t> pipes) {
    std::size_t sent = 0;
    for (const pid_t pid : pipe_holders(pipes))
        if (::kill(pid, SIGKILL) == 0) ++sent;
    return sent;
}

}  // namespace mdcrypt
