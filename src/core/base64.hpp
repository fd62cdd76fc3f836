// Base64 (RFC 4648): the alphabet every decoder here reads, and the two decoders, one per strictness.
// Lenient and streaming (Base64Decoder): MIME bodies and armor in mail being inspected, where line
// breaks and white space are normal. Strict (base64_decode): a key file's armor lines, already
// joined, where anything odd means the file is not what it claims. gpg's own output is checked by
// openpgp_message_check's streaming loop over the same alphabet.
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

// Standard base64 without line breaks or white space; false on any other character, a length not a
// multiple of 4, bad padding, or non-zero unused bits in the last character.
bool base64_decode(std::string_view text, std::string& out);

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
