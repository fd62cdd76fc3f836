// Counts the gpg processes GPGME starts through gpg-counting-wrapper while an instance lives.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gnupg_fixtures.hpp"

#ifndef MDCRYPT_GPG_COUNTING_WRAPPER
#error "MDCRYPT_GPG_COUNTING_WRAPPER must name the gpg-counting-wrapper executable"
#endif

namespace mdcrypt::test {

inline const char* counting_gpg() { return MDCRYPT_GPG_COUNTING_WRAPPER; }

class GpgProcessCounter {
public:
    GpgProcessCounter() : log_(dir_.path() / "gpg-processes.log") { ::setenv("MDCRYPT_GPG_COUNT_FILE", log_.c_str(), 1); }
    ~GpgProcessCounter() { ::unsetenv("MDCRYPT_GPG_COUNT_FILE"); }
    GpgProcessCounter(const GpgProcessCounter&) = delete;
    GpgProcessCounter& operator=(const GpgProcessCounter&) = delete;

    // The arguments of each gpg started since construction or the last reset().
    std::vector<std::string> processes() const {
        std::vector<std::string> lines;
        std::ifstream in(log_);
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        return lines;
    }
    std::size_t count() const { return processes().size(); }
    void reset() const { std::ofstream truncate(log_, std::ios::trunc); }

private:
    TempDir dir_{"mdcrypt-gpgcount-"};
    std::filesystem::path log_;
};

}  // namespace mdcrypt::test
