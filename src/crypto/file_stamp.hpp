// When a file was last seen: what the key index and the key file cache compare to notice that a
// keyring or key file changed (replaced, edited, deleted) without reading it again.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>

namespace mdcrypt {

// Files that do not exist compare equal to each other.
struct FileStamp {
    int error = 0;  // errno of a failed stat other than "does not exist"
    bool exists = false;
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileStamp&) const = default;
};

FileStamp stamp_of(const struct stat& st);
FileStamp stat_file(const std::filesystem::path& path);

}  // namespace mdcrypt
