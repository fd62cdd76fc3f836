// SHA-1 (FIPS 180-4), for the two places OpenPGP and the Web Key Directory name things by it: v4 key
// fingerprints and WKD's hashed local parts. Not for anything that needs collision resistance.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mdcrypt {

using Sha1Digest = std::array<std::uint8_t, 20>;

// Incremental: update() any number of times, then digest() once.
class Sha1 {
public:
    Sha1();
    void update(std::string_view data);
    Sha1Digest digest();  // pads and finishes; the object must not be updated afterwards

private:
    void block(const std::uint8_t* p);

    std::array<std::uint32_t, 5> h_;
    std::array<std::uint8_t, 64> buffer_{};
    std::size_t buffered_ = 0;
    std::uint64_t length_ = 0;  // bytes hashed so far
};

Sha1Digest sha1(std::string_view data);

// Upper-case hexadecimal, as gpg prints fingerprints.
std::string to_hex_upper(const Sha1Digest& digest);

}  // namespace mdcrypt
