// Optional privilege drop after the socket is bound ([milter] user / group).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <sys/types.h>

namespace mdcrypt::milter {

class PrivilegeError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Identity {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user;
};

// Resolves `user` (and `group`, default: the user's primary group). Throws PrivilegeError.
Identity resolve_identity(const std::string& user, const std::string& group);

// Creates `directory` (0700) if missing and hands it to `who`, so the spool is private to the user
// the daemon runs as after the drop. Only meaningful while still root.
void give_directory_to(const std::filesystem::path& directory, const Identity& who);

// setgroups to just the group, setgid, setuid; then checks that root cannot be regained.
void drop_privileges(const Identity& who);

}  // namespace mdcrypt::milter
