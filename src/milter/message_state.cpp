#include "milter/message_state.hpp"

#include <algorithm>
#include <span>
#include <utility>

#include "milter/header_value.hpp"

namespace mdcrypt::milter {

MessageState::MessageState(SpoolSettings spool, std::uint64_t max_message_size)
    : spool_settings_(spool), max_message_size_(max_message_size), body_(std::move(spool)) {}

std::string MessageState::too_large_cause() const {
    if (!too_large_) return {};
    if (header_overflow_) return "header block over " + std::to_string(kMaxHeaderBlockBytes) + " bytes";
    return "over milter.max_message_size = " + std::to_string(max_message_size_) + " bytes";
}

void MessageState::check_limits() {
    const bool header_overflow = header_bytes_ > kMaxHeaderBlockBytes;
    if (too_large_) {
        if (header_overflow && inspect_prefix_) {  // a header we cannot hold cannot be judged either
            inspect_prefix_ = false;
            body_prefix_ = std::string();
            fields_ = std::vector<HeaderField>();
        }
        return;
    }
    if (header_overflow || (max_message_size_ != 0 && header_bytes_ + body_bytes_ > max_message_size_)) {
        too_large_ = true;
        header_overflow_ = header_overflow;
        // The header is whole: keep the start of the body, so end of message can still see that the
        // message is already encrypted and pass it (too large to encrypt, not to pass).
        if (!header_overflow) {
            inspect_prefix_ = true;
            const auto reader = body_.reader();
            std::string chunk(16 * 1024, '\0');
            while (!prefix_full()) {
                const std::size_t n = reader->read(std::span<char>(chunk.data(), std::min(chunk.size(), prefix_room())));
                if (n == 0) break;
                body_prefix_.append(chunk.data(), n);
            }
        }
        body_ = Spool(spool_settings_);  // give the memory or the spool file back now
    }
}

std::size_t MessageState::prefix_room() const {
    return body_prefix_.size() > kMaxInspectedBodyBytes ? 0 : kMaxInspectedBodyBytes + 1 - body_prefix_.size();
}

std::optional<std::string_view> MessageState::body_prefix() const {
    if (!too_large_ || !inspect_prefix_) return std::nullopt;
    return std::string_view(body_prefix_);
}

void MessageState::keep(std::string_view crlf_bytes) {
    if (!too_large_) {
        body_.write(crlf_bytes);
    } else if (inspect_prefix_) {
        body_prefix_.append(crlf_bytes.substr(0, prefix_room()));
    }
}

void MessageState::fail(std::string_view reason) {
    if (!failure_.empty()) return;
    failure_ = reason.empty() ? std::string("unknown failure") : std::string(reason);
    body_ = Spool(spool_settings_);  // nothing of this message will be used
}

void MessageState::add_header(std::string_view name, std::string_view value, bool leading_space_negotiated) {
    if (failed()) return;
    header_bytes_ += name.size() + 1 + value.size() + 2;
    check_limits();
    if (too_large_ && !inspect_prefix_) return;  // the header overflowed: fields are no longer kept
    fields_.push_back({std::string(name), value_from_mta(value, leading_space_negotiated)});
}

void MessageState::append_body(std::string_view chunk) {
    if (failed()) return;
    body_bytes_ += chunk.size();
    check_limits();
    if (too_large_ && prefix_full()) return;
    bool bare_lf = false;
    for (std::size_t i = 0; i < chunk.size() && !bare_lf; ++i)
        bare_lf = chunk[i] == '\n' && (i == 0 ? !last_was_cr_ : chunk[i - 1] != '\r');
    if (!bare_lf) {  // the usual case: the MTA sends CRLF
        if (!chunk.empty()) last_was_cr_ = chunk.back() == '\r';
        keep(chunk);
        return;
    }
    std::string out;
    out.reserve(chunk.size() + chunk.size() / 16 + 1);
    for (char c : chunk) {
        if (c == '\n' && !last_was_cr_) out.push_back('\r');
        out.push_back(c);
        last_was_cr_ = (c == '\r');
    }
    keep(out);
}

}  // namespace mdcrypt::milter
