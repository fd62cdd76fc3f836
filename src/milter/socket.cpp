#include "milter/socket.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/spool.hpp"

namespace mdcrypt::milter {

namespace {

[[noreturn]] void fail_errno(const std::string& what) {
    throw SocketError(what + ": " + std::strerror(errno));
}

}  // namespace

SocketSpec parse_socket_spec(std::string_view text) {
    SocketSpec spec;
    spec.spec = std::string(text);
    const auto colon = text.find(':');
    const std::string_view prefix = colon == std::string_view::npos ? std::string_view{} : text.substr(0, colon);
    const std::string_view rest = colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
    if (prefix == "unix" || prefix == "local") {
        if (rest.empty()) throw SocketError("socket '" + spec.spec + "' has no path");
        spec.kind = SocketSpec::Kind::Unix;
        spec.path = std::string(rest);
        if (spec.path.string().size() >= sizeof(sockaddr_un{}.sun_path))
            throw SocketError("socket path '" + spec.path.string() + "' is too long for a unix socket");
    } else if (prefix == "inet" || prefix == "inet6") {
        spec.kind = prefix == "inet" ? SocketSpec::Kind::Inet : SocketSpec::Kind::Inet6;
        if (rest.empty() || rest.front() == '@') throw SocketError("socket '" + spec.spec + "' has no port");
    } else {
        throw SocketError("socket '" + spec.spec + "' must start with unix:, local:, inet: or inet6:");
    }
    return spec;
}

void prepare_unix_socket(const std::filesystem::path& path) {
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return;
        fail_errno("cannot check socket " + path.string());
    }
    if (!S_ISSOCK(st.st_mode)) throw SocketError(path.string() + " exists and is not a socket; not removing it");

    FileDescriptor probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe) fail_errno("cannot create a probe socket");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    int rc;
    do {
        rc = ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) throw SocketError(path.string() + " is in use: another milter is listening on it");
    if (errno != ECONNREFUSED) fail_errno("cannot check whether " + path.string() + " is in use");
    // Nobody listens: a stale socket from a process that did not clean up.
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail_errno("cannot remove stale socket " + path.string());
}

void set_unix_socket_access(const std::filesystem::path& path, std::uint32_t mode, const std::string& group) {
    if (!group.empty()) {
        std::vector<char> buffer(16384);
        struct group* found = nullptr;
        struct group entry{};
        const int rc = ::getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found);
        if (rc != 0 || !found) throw SocketError("socket group '" + group + "' does not exist");
        if (::chown(path.c_str(), static_cast<uid_t>(-1), found->gr_gid) != 0)
            fail_errno("cannot give socket " + path.string() + " to group " + group);
    }
    if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0)
        fail_errno("cannot set the mode of socket " + path.string());
}

void poke_unix_socket(const std::filesystem::path& path) {
    FileDescriptor fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return;
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    [[maybe_unused]] const int rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address));
}

std::optional<SocketFileId> socket_file_id(const std::filesystem::path& path) {
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return std::nullopt;
    return SocketFileId{st.st_dev, st.st_ino};
}

void remove_socket_file(const std::filesystem::path& path, const SocketFileId& id) {
    const auto now = socket_file_id(path);
    if (now && now->device == id.device && now->inode == id.inode) ::unlink(path.c_str());
}

}  // namespace mdcrypt::milter
