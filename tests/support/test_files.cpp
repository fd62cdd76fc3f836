#include "test_files.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace mdcrypt::testing {

std::string read_file(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + file.string());
    std::ostringstream s;
    s << in.rdbuf();
    if (in.bad()) throw std::runtime_error("read error in " + file.string());
    return s.str();
}

}  // namespace mdcrypt::testing
