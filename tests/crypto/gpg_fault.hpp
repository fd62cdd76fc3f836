// Sets the fault of tests/support/gpg-listing-fault (a gpg that dies or fails while listing keys) for
// as long as an instance lives.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gnupg_fixtures.hpp"

namespace mdcrypt::test {

#ifndef MDCRYPT_GPG_LISTING_FAULT
#error "MDCRYPT_GPG_LISTING_FAULT must name tests/support/gpg-listing-fault"
#endif

class ListingFault {
public:
    explicit ListingFault(const std::string& fault) : file_(dir_.path() / "fault") {
        set(fault);
        ::setenv("MDCRYPT_GPG_FAULT", file_.c_str(), 1);
    }
    ~ListingFault() { ::unsetenv("MDCRYPT_GPG_FAULT"); }
    ListingFault(const ListingFault&) = delete;
    ListingFault& operator=(const ListingFault&) = delete;
    void set(const std::string& fault) const {
        std::filesystem::remove(file_);
        write_private_file(file_, fault + "\n");
    }

private:
    TempDir dir_{"mdcrypt-fault-"};
    std::filesystem::path file_;
};

inline const char* listing_fault_gpg() { return MDCRYPT_GPG_LISTING_FAULT; }

}  // namespace mdcrypt::test
