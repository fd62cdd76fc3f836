#include "core/base64.hpp"

namespace mdcrypt {

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
