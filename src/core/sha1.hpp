// SHA-1, for the two places OpenPGP and the Web Key Directory name things by it: v4 key fingerprints
// and WKD's hashed local parts. Not for anything that needs collision resistance. libgcrypt computes
// it: a hash function is not something to maintain a copy of.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

struct gcry_md_handle;

namespace mdcrypt {

using Sha1Digest = std::array<std::uint8_t, 20>;

// Incremental: update() any number of times, then digest() once.
class Sha1 {
public:
    Sha1();
    ~Sha1();
    Sha1(const Sha1&) = delete;
    Sha1& operator=(const Sha1&) = delete;

    void update(std::string_view data);
    Sha1Digest digest();  // finishes; the object must not be updated afterwards

private:
    gcry_md_handle* handle_;
};

Sha1Digest sha1(std::string_view data);

// Upper-case hexadecimal, as gpg prints fingerprints.
std::string to_hex_upper(const Sha1Digest& digest);

}  // namespace mdcrypt
