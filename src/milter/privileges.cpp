#include "milter/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace mdcrypt::milter {

namespace {

[[noreturn]] void fail_errno(const std::string& what) { throw PrivilegeError(what + ": " + std::strerror(errno)); }

}  // namespace

Identity resolve_identity(const std::string& user, const std::string& group) {
    std::vector<char> buffer(16384);
    Identity id;
    id.user = user;
    passwd pw{};
    passwd* found_user = nullptr;
    if (::getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found_user) != 0 || !found_user)
        throw PrivilegeError("user '" + user + "' does not exist");
    id.uid = found_user->pw_uid;
    id.gid = found_user->pw_gid;
    if (!group.empty()) {
        struct group gr{};
        struct group* found_group = nullptr;
        if (::getgrnam_r(group.c_str(), &gr, buffer.data(), buffer.size(), &found_group) != 0 || !found_group)
            throw PrivilegeError("group '" + group + "' does not exist");
        id.gid = found_group->gr_gid;
    }
    return id;
}

void give_directory_to(const std::filesystem::path& directory, const Identity& who) {
    if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) fail_errno("cannot create " + directory.string());
    struct stat st{};
    if (::lstat(directory.c_str(), &st) != 0) fail_errno("cannot stat " + directory.string());
    if (!S_ISDIR(st.st_mode)) throw PrivilegeError(directory.string() + " is not a directory");
    if (::chown(directory.c_str(), who.uid, who.gid) != 0) fail_errno("cannot give " + directory.string() + " to " + who.user);
    if (::chmod(directory.c_str(), 0700) != 0) fail_errno("cannot make " + directory.string() + " private");
}

void drop_privileges(const Identity& who) {
    const gid_t groups[] = {who.gid};
    if (::setgroups(1, groups) != 0) fail_errno("setgroups");
    if (::setgid(who.gid) != 0) fail_errno("setgid");
    if (::setuid(who.uid) != 0) fail_errno("setuid");
    if (who.uid != 0 && ::setuid(0) == 0) throw PrivilegeError("could regain root after dropping privileges");
}

}  // namespace mdcrypt::milter
