#include "crypto/file_stamp.hpp"

#include <cerrno>

namespace mdcrypt {

FileStamp stamp_of(const struct stat& st) {
    return FileStamp{0, true, st.st_dev, st.st_ino, st.st_size,
                     static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

FileStamp stat_file(const std::filesystem::path& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) {
        FileStamp missing;
        if (errno != ENOENT) missing.error = errno;
        return missing;
    }
    return stamp_of(st);
}

}  // namespace mdcrypt
