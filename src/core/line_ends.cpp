#include "core/line_ends.hpp"

#include <algorithm>
#include <array>

namespace mdcrypt {

std::string to_crlf(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 32);
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out.push_back('\r');
        out.push_back(text[i]);
    }
    return out;
}

std::size_t CrlfSource::read(std::span<char> out) {
    if (out.empty()) return 0;
    if (pending_pos_ == pending_.size()) {
        std::array<char, 32 * 1024> buffer{};
        const std::size_t n = inner_.read(std::span<char>(buffer.data(), std::min(buffer.size(), out.size())));
        if (n == 0) return 0;
        pending_.clear();
        pending_pos_ = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (buffer[i] == '\n' && last_ != '\r') pending_.push_back('\r');
            pending_.push_back(buffer[i]);
            last_ = buffer[i];
        }
    }
    const std::size_t n = std::min(out.size(), pending_.size() - pending_pos_);
    std::copy_n(pending_.data() + pending_pos_, n, out.data());
    pending_pos_ += n;
    return n;
}

LfSink::~LfSink() = default;

void LfSink::write(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() + 1);
    for (char c : bytes) {
        if (held_cr_) {
            held_cr_ = false;
            if (c != '\n') out.push_back('\r');
        }
        if (c == '\r') held_cr_ = true;
        else out.push_back(c);
    }
    if (!out.empty()) inner_.write(out);
}

void LfSink::flush() {
    if (held_cr_) {
        held_cr_ = false;
        inner_.write("\r");
    }
}

}  // namespace mdcrypt
