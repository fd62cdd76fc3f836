// Byte streams over file descriptors (stdin/stdout of the pipe filter).
#pragma once

#include <string>

#include "core/bytes.hpp"

namespace mdcrypt {

class FdSource final : public ByteSource {
public:
    explicit FdSource(int fd) : fd_(fd) {}
    std::size_t read(std::span<char> out) override;

private:
    int fd_;
};

// Buffered; call flush() before relying on the bytes being written. Throws on write errors.
class FdSink final : public ByteSink {
public:
    explicit FdSink(int fd) : fd_(fd) {}
    void write(std::string_view bytes) override;
    void flush();

private:
    int fd_;
    std::string buffer_;
};

}  // namespace mdcrypt
