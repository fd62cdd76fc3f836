// A private directory (mkdtemp, 0700) under $TMPDIR (else /tmp) for spooled bodies and the private
// copies of keys from key files, removed with everything in it when its owner goes. For the programs
// without a spool directory of their own (mdcrypt-filter runs as whoever delivers; mdcrypt-mailbox).
#pragma once

#include <filesystem>
#include <string_view>

namespace mdcrypt {

class PrivateTempDir {
public:
    explicit PrivateTempDir(std::string_view program);  // "mdcrypt-filter" -> /tmp/mdcrypt-filter.XXXXXX
    PrivateTempDir(const PrivateTempDir&) = delete;
    PrivateTempDir& operator=(const PrivateTempDir&) = delete;
    ~PrivateTempDir();
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace mdcrypt
