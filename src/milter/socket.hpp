// The listening socket named in the config: "unix:PATH" / "local:PATH", "inet:PORT@ADDR",
// "inet6:PORT@ADDR" (libmilter's syntax; libmilter itself opens it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace mdcrypt::milter {

// The socket cannot be used: the daemon exits with 75 (EX_TEMPFAIL).
class SocketError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct SocketSpec {
    enum class Kind { Unix, Inet, Inet6 };
    Kind kind = Kind::Unix;
    std::filesystem::path path;  // Unix
    std::string spec;            // as libmilter's smfi_setconn wants it
};

// Throws SocketError for an unknown prefix or an empty path/port.
SocketSpec parse_socket_spec(std::string_view text);

// Before binding a unix socket: a socket file nobody listens on (left by a crash) is removed; a
// socket a live process accepts connections on is an error (another milter runs: refuse to start);
// anything that is not a socket is an error too (never delete a regular file by mistake).
void prepare_unix_socket(const std::filesystem::path& path);

// After binding: mode (e.g. 0660) and group so the MTA's user can connect. Throws SocketError.
void set_unix_socket_access(const std::filesystem::path& path, std::uint32_t mode, const std::string& group);

// Connects to the unix socket and hangs up at once. After smfi_stop() this wakes libmilter's
// listener from its poll(), which otherwise notices the stop only after its 5-second timeout.
void poke_unix_socket(const std::filesystem::path& path);

// Identifies the socket file we bound, so that at exit we remove ours and never a newer one.
struct SocketFileId {
    dev_t device = 0;
    ino_t inode = 0;
};
std::optional<SocketFileId> socket_file_id(const std::filesystem::path& path);

// At exit (libmilter leaves the file when running as root): unlinks `path` if it is still the socket
// identified by `id`. Errors are ignored: a leftover socket is removed at the next start anyway.
void remove_socket_file(const std::filesystem::path& path, const SocketFileId& id);

}  // namespace mdcrypt::milter
