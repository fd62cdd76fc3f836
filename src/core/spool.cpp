#include "core/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mdcrypt {

namespace {

[[noreturn]] void throw_errno(const std::string& what, const std::filesystem::path& path) {
    throw std::runtime_error(what + " " + path.string() + ": " + std::strerror(errno));
}

class FileSource final : public ByteSource {
public:
    FileSource(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
    std::size_t read(std::span<char> out) override {
        if (offset_ >= size_) return 0;
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), size_ - offset_));
        ssize_t n;
        do {
            n = ::pread(fd_, out.data(), want, static_cast<off_t>(offset_));
        } while (n < 0 && errno == EINTR);
        if (n < 0) throw std::runtime_error(std::string("reading spool file: ") + std::strerror(errno));
        if (n == 0) throw std::runtime_error("spool file shorter than written");
        offset_ += static_cast<std::uint64_t>(n);
        return static_cast<std::size_t>(n);
    }

private:
    int fd_;
    std::uint64_t size_;
    std::uint64_t offset_ = 0;
};

}  // namespace

void prepare_private_directory(const std::filesystem::path& directory) {
    if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("cannot create spool directory", directory);
    struct stat st{};
    if (::lstat(directory.c_str(), &st) != 0) throw_errno("cannot stat spool directory", directory);
    if (!S_ISDIR(st.st_mode)) throw std::runtime_error("spool directory " + directory.string() + " is not a directory");
    if (st.st_uid != ::geteuid())
        throw std::runtime_error("spool directory " + directory.string() + " is not owned by the running user");
    if ((st.st_mode & 077) != 0 && ::chmod(directory.c_str(), 0700) != 0)
        throw_errno("cannot make spool directory private", directory);
}

Spool::Spool(SpoolSettings settings) : settings_(std::move(settings)) {}

void Spool::write(std::string_view bytes) {
    if (!file_ && memory_.size() + bytes.size() > settings_.memory_limit) spill();
    if (file_) {
        while (!bytes.empty()) {
            const ssize_t n = ::write(file_.get(), bytes.data(), bytes.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                throw_errno("cannot write spool file in", settings_.directory);
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
            size_ += static_cast<std::uint64_t>(n);
        }
    } else {
        // Grow at most to the limit: string doubling would reserve up to twice the limit per body.
        if (memory_.capacity() < memory_.size() + bytes.size())
            memory_.reserve(std::min(settings_.memory_limit, std::max(2 * memory_.capacity(), memory_.size() + bytes.size())));
        memory_.append(bytes);
        size_ += bytes.size();
    }
}

FileDescriptor create_unlinked_file(const std::filesystem::path& directory) {
    // O_TMPFILE: the file never has a name, so nothing is left behind even after a crash.
    int fd = ::open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        std::string name = (directory / "spool.XXXXXX").string();
        fd = ::mkostemp(name.data(), O_CLOEXEC);
        if (fd >= 0) ::unlink(name.c_str());
    }
    if (fd < 0) throw_errno("cannot create spool file in", directory);
    return FileDescriptor(fd);
}

void Spool::spill() {
    file_ = create_unlinked_file(settings_.directory);
    std::string pending;
    pending.swap(memory_);
    size_ = 0;
    write(pending);
}

std::unique_ptr<ByteSource> Spool::reader() const {
    if (file_) return std::make_unique<FileSource>(file_.get(), size_);
    return std::make_unique<StringSource>(memory_);
}

}  // namespace mdcrypt
