#include "core/base64.hpp"

namespace mdcrypt {

bool base64_decode(std::string_view text, std::string& out) {
    out.clear();
    if (text.size() % 4 != 0) return false;
    std::size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') ++padding;
    std::uint32_t bits = 0;
    int count = 0;
    for (std::size_t i = 0; i < text.size() - padding; ++i) {
        const int v = base64_value(text[i]);
        if (v < 0) return false;
        bits = (bits << 6) | static_cast<std::uint32_t>(v);
        count += 6;
        if (count >= 8) {
            count -= 8;
            out.push_back(static_cast<char>((bits >> count) & 0xff));
        }
        bits &= (1u << count) - 1;
    }
    return bits == 0;  // the unused bits of the last character must be zero
}

bool Base64Decoder::feed(std::string_view in) {
    for (char c : in) {
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
        if (c == '=') {
            ended_ = true;
            continue;
        }
        const int v = base64_value(c);
        if (v < 0 || ended_) return false;  // data after padding is not base64 either
        bits_ = (bits_ << 6) | static_cast<std::uint32_t>(v);
        nbits_ += 6;
        if (nbits_ >= 8) {
            nbits_ -= 8;
            if (out_.size() < limit_) out_.push_back(static_cast<char>((bits_ >> nbits_) & 0xFF));
            else truncated_ = true;
        }
    }
    return true;
}

}  // namespace mdcrypt
