// A body buffer: in memory up to a threshold, then in an unlinked 0600 file in a private directory,
// so resident memory does not grow with message size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "core/bytes.hpp"
#include "core/file_descriptor.hpp"

namespace mdcrypt {

struct SpoolSettings {
    std::filesystem::path directory;      // private (0700) directory for overflow files
    std::size_t memory_limit = 1 << 20;   // bytes kept in memory before spilling to a file
};

// Creates `directory` with mode 0700 if it does not exist and checks that it is a private directory
// owned by us; throws std::runtime_error naming the path otherwise.
void prepare_private_directory(const std::filesystem::path& directory);

// A new 0600 file in `directory` without a name (O_TMPFILE, else created and unlinked at once),
// open for reading and writing, close-on-exec. Throws std::runtime_error naming the directory.
FileDescriptor create_unlinked_file(const std::filesystem::path& directory);

class Spool final : public ByteSink {
public:
    explicit Spool(SpoolSettings settings);
    Spool(Spool&&) noexcept = default;
    Spool& operator=(Spool&&) noexcept = default;

    void write(std::string_view bytes) override;
    std::uint64_t size() const { return size_; }
    bool on_disk() const { return static_cast<bool>(file_); }

    // A reader over everything written so far. The spool must outlive it.
    std::unique_ptr<ByteSource> reader() const;

private:
    void spill();

    SpoolSettings settings_;
    std::string memory_;
    FileDescriptor file_;
    std::uint64_t size_ = 0;
};

}  // namespace mdcrypt
