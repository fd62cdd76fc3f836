// Sets the fault of tests/support/gpg-fault (a gpg that dies or fails while listing keys or encrypting) for
// as long as an instance lives.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gnupg_fixtures.hpp"

namespace mdcrypt::test {

#ifndef MDCRYPT_GPG_FAULT_WRAPPER
#error "MDCRYPT_GPG_FAULT_WRAPPER must name tests/support/gpg-fault"
#endif

class GpgFault {
public:
    explicit GpgFault(const std::string& fault) : file_(dir_.path() / "fault") {
        set(fault);
        ::setenv("MDCRYPT_GPG_FAULT", file_.c_str(), 1);
    }
    ~GpgFault() { ::unsetenv("MDCRYPT_GPG_FAULT"); }
    GpgFault(const GpgFault&) = delete;
    GpgFault& operator=(const GpgFault&) = delete;
    const std::filesystem::path& file() const { return file_; }
    void set(const std::string& fault) const {
        std::filesystem::remove(file_);
        write_private_file(file_, fault + "\n");
    }

private:
    TempDir dir_{"mdcrypt-fault-"};
    std::filesystem::path file_;
};

inline const char* fault_gpg() { return MDCRYPT_GPG_FAULT_WRAPPER; }

}  // namespace mdcrypt::test
