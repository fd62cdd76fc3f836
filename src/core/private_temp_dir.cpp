#include "core/private_temp_dir.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>

namespace mdcrypt {

PrivateTempDir::PrivateTempDir(std::string_view program) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = (std::filesystem::path(tmp && *tmp ? tmp : "/tmp") / (std::string(program) + ".XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("cannot create a private directory under " + templ);
    path_ = templ;
}

PrivateTempDir::~PrivateTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

}  // namespace mdcrypt
