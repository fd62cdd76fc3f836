// The one temporary directory of the tests: private (0700, mkdtemp under $TMPDIR or /tmp), removed
// with its contents when it goes, so a failing test leaves nothing behind.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace mdcrypt::testing {

class TempDir {
public:
    explicit TempDir(std::string_view prefix = "mdcrypt-test-");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    // Writes `text` to `name` (relative; parent directories are created) and returns its path.
    std::filesystem::path write(const std::filesystem::path& name, std::string_view text) const;

private:
    std::filesystem::path path_;
};

}  // namespace mdcrypt::testing
