#include "milter/message_state.hpp"

#include <utility>

#include "milter/header_value.hpp"

namespace mdcrypt::milter {

MessageState::MessageState(SpoolSettings spool, std::uint64_t max_message_size)
    : spool_settings_(spool), max_message_size_(max_message_size), body_(std::move(spool)) {}

void MessageState::check_limits() {
    if (too_large_) return;
    if (header_bytes_ > kMaxHeaderBlockBytes || (max_message_size_ != 0 && header_bytes_ + body_bytes_ > max_message_size_)) {
        too_large_ = true;
        body_ = Spool(spool_settings_);  // give the memory or the spool file back now
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
    if (too_large_) return;
    fields_.push_back({std::string(name), value_from_mta(value, leading_space_negotiated)});
}

void MessageState::append_body(std::string_view chunk) {
    if (failed()) return;
    body_bytes_ += chunk.size();
    check_limits();
    if (too_large_) return;
    bool bare_lf = false;
    for (std::size_t i = 0; i < chunk.size() && !bare_lf; ++i)
        bare_lf = chunk[i] == '\n' && (i == 0 ? !last_was_cr_ : chunk[i - 1] != '\r');
    if (!bare_lf) {  // the usual case: the MTA sends CRLF
        if (!chunk.empty()) last_was_cr_ = chunk.back() == '\r';
        body_.write(chunk);
        return;
    }
    std::string out;
    out.reserve(chunk.size() + chunk.size() / 16 + 1);
    for (char c : chunk) {
        if (c == '\n' && !last_was_cr_) out.push_back('\r');
        out.push_back(c);
        last_was_cr_ = (c == '\r');
    }
    body_.write(out);
}

}  // namespace mdcrypt::milter
