// Reading test data files whole.
#pragma once

#include <filesystem>
#include <string>

namespace mdcrypt::testing {

// The file's bytes; throws std::runtime_error naming the file when it cannot be read.
std::string read_file(const std::filesystem::path& file);

}  // namespace mdcrypt::testing
