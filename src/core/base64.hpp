// Base64 (RFC 4648): the alphabet every decoder here reads, and the lenient streaming decoder for MIME
// bodies (Content-Transfer-Encoding: base64), where line breaks and white space are normal. ASCII
// armor is decoded by core/armor.hpp in whole groups with padding only at the end: stricter on
// purpose, since what it reads is either gpg's output or a key file that must be exactly right.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mdcrypt {

// 0..63 for a base64 character, -1 for anything else ('=' included).
constexpr int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

// Decodes base64 fed in pieces, up to `limit` output bytes. White space is skipped; '=' ends the data;
// any other byte outside the alphabet makes it invalid (a lookalike, not a lenient case worth keeping).
class Base64Decoder {
public:
    explicit Base64Decoder(std::size_t limit) : limit_(limit) {}

    // False when `in` holds a byte outside the alphabet (white space aside) or data after padding.
    bool feed(std::string_view in);
    std::string& output() { return out_; }
    bool truncated() const { return truncated_; }  // the limit cut the output short

private:
    std::size_t limit_;
    std::string out_;
    bool truncated_ = false;
    std::uint32_t bits_ = 0;
    int nbits_ = 0;
    bool ended_ = false;
};

}  // namespace mdcrypt
