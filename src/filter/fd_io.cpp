#include "filter/fd_io.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mdcrypt {

namespace {
constexpr std::size_t kBufferSize = 64 * 1024;
}

std::size_t FdSource::read(std::span<char> out) {
    for (;;) {
        const ssize_t n = ::read(fd_, out.data(), out.size());
        if (n >= 0) return static_cast<std::size_t>(n);
        if (errno != EINTR) throw std::runtime_error(std::string("reading input: ") + std::strerror(errno));
    }
}

void FdSink::write(std::string_view bytes) {
    buffer_.append(bytes);
    if (buffer_.size() >= kBufferSize) flush();
}

void FdSink::flush() {
    std::string_view rest = buffer_;
    while (!rest.empty()) {
        const ssize_t n = ::write(fd_, rest.data(), rest.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            throw std::runtime_error(std::string("writing output: ") + std::strerror(errno));
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    buffer_.clear();
}

}  // namespace mdcrypt
