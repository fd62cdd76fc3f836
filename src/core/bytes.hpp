// Byte streams used to move message bodies without holding them whole in memory.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace mdcrypt {

// Something bytes can be read from in order, once.
class ByteSource {
public:
    virtual ~ByteSource() = default;
    // Fills up to out.size() bytes; returns how many; 0 means end of data. Throws on I/O error.
    virtual std::size_t read(std::span<char> out) = 0;
};

// Something bytes can be appended to. Throws on I/O error.
class ByteSink {
public:
    virtual ~ByteSink() = default;
    virtual void write(std::string_view bytes) = 0;
};

// Reads an in-memory string.
class StringSource final : public ByteSource {
public:
    explicit StringSource(std::string_view data) : data_(data) {}
    std::size_t read(std::span<char> out) override;

private:
    std::string_view data_;
};

// Appends to a string the caller owns.
class StringSink final : public ByteSink {
public:
    explicit StringSink(std::string& target) : target_(target) {}
    void write(std::string_view bytes) override { target_.append(bytes); }

private:
    std::string& target_;
};

// Reads several sources one after another.
class ConcatSource final : public ByteSource {
public:
    explicit ConcatSource(std::span<ByteSource* const> parts) : parts_(parts) {}
    std::size_t read(std::span<char> out) override;

private:
    std::span<ByteSource* const> parts_;
    std::size_t current_ = 0;
};

// Copies everything from a source into a sink; returns the byte count.
std::size_t copy_all(ByteSource& from, ByteSink& to);

// Reads at most `limit` bytes from the start of a source; the string grows with what is read (a
// 4 MiB limit allocated up front cost every small message a page-faulting allocation).
std::string read_prefix(ByteSource& from, std::size_t limit);

// Reads a whole source into a string (tests and small data only).
std::string read_all(ByteSource& from);

}  // namespace mdcrypt
