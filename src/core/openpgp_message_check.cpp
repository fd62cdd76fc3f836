#include "core/openpgp_message_check.hpp"

#include <algorithm>

namespace mdcrypt {

namespace {

constexpr int kTagSessionKey = 1;
constexpr int kTagSeipd = 18;
constexpr int kTagAead = 20;

std::uint32_t octet(const std::string& s, std::size_t i) { return static_cast<unsigned char>(s[i]); }

// Octets a new-format length needs, judged by its first octet.
std::size_t new_length_size(std::uint32_t first) {
    if (first < 192) return 1;
    if (first < 224) return 2;
    if (first == 255) return 5;
    return 1;  // a partial body length
}

}  // namespace

void EncryptedPacketsCheck::start_packet(int tag) {
    if (data_packet_) {
        error_ = "a packet (tag " + std::to_string(tag) + ") after the encrypted data";
    } else if (tag == kTagSessionKey) {
        ++session_keys_;
    } else if (tag == kTagSeipd || tag == kTagAead) {
        if (session_keys_ == 0) error_ = "encrypted data without a session key packet";
        data_packet_ = true;
    } else {
        error_ = "an unexpected packet (tag " + std::to_string(tag) + ") at byte " + std::to_string(offset_);
    }
}

// header_ holds the octets read so far of a packet header (or a partial chunk's length); when they
// are complete, the packet or chunk body starts.
void EncryptedPacketsCheck::take_length_octets() {
    std::size_t at = 0;  // where the length octets start in header_
    if (!reading_chunk_length_) {
        const std::uint32_t first = octet(header_, 0);
        if ((first & 0x80) == 0) {
            error_ = "not an OpenPGP packet at byte " + std::to_string(offset_ - 1);
            return;
        }
        new_format_ = (first & 0x40) != 0;
        tag_ = static_cast<int>(new_format_ ? first & 0x3f : (first >> 2) & 0x0f);
        at = 1;
        if (!new_format_) {
            const std::uint32_t type = first & 3;
            if (type == 3) {
                error_ = "a packet of indeterminate length (tag " + std::to_string(tag_) + ")";
                return;
            }
            const std::size_t n = std::size_t{1} << type;
            if (header_.size() < 1 + n) return;
            remaining_ = 0;
            for (std::size_t i = 0; i < n; ++i) remaining_ = (remaining_ << 8) | octet(header_, 1 + i);
            partial_ = false;
            start_packet(tag_);
            header_.clear();
            in_body_ = true;
            return;
        }
    }
    if (header_.size() < at + 1) return;
    const std::uint32_t o1 = octet(header_, at);
    if (header_.size() < at + new_length_size(o1)) return;
    partial_ = false;
    if (o1 < 192) {
        remaining_ = o1;
    } else if (o1 < 224) {
        remaining_ = ((o1 - 192) << 8) + octet(header_, at + 1) + 192;
    } else if (o1 == 255) {
        remaining_ = (octet(header_, at + 1) << 24) | (octet(header_, at + 2) << 16) | (octet(header_, at + 3) << 8) |
                     octet(header_, at + 4);
    } else {
        remaining_ = std::uint64_t{1} << (o1 & 0x1f);
        partial_ = true;
        if (tag_ != kTagSeipd && tag_ != kTagAead && tag_ != 8 && tag_ != 9 && tag_ != 11) {
            error_ = "a partial body length in a packet (tag " + std::to_string(tag_) + ") that cannot have one";
            return;
        }
    }
    if (!reading_chunk_length_) start_packet(tag_);
    reading_chunk_length_ = false;
    header_.clear();
    in_body_ = true;
}

void EncryptedPacketsCheck::feed(std::string_view bytes) {
    std::size_t i = 0;
    while (error_.empty()) {
        if (in_body_ && remaining_ == 0) {  // the packet or chunk is complete
            in_body_ = false;
            reading_chunk_length_ = partial_;
            partial_ = false;
        }
        if (i == bytes.size()) break;
        if (in_body_) {
            const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, bytes.size() - i));
            i += take;
            offset_ += take;
            remaining_ -= take;
            continue;
        }
        header_.push_back(bytes[i++]);
        ++offset_;
        take_length_octets();
    }
}

std::optional<std::string> EncryptedPacketsCheck::finish() const {
    if (!error_.empty()) return error_;
    if (!header_.empty() || reading_chunk_length_ || (in_body_ && (remaining_ > 0 || partial_)))
        return "the data ends inside a packet (tag " + std::to_string(tag_) + ") after " + std::to_string(offset_) + " bytes";
    if (!data_packet_) return offset_ == 0 ? std::string("no data") : "no encrypted data packet after the session keys";
    return std::nullopt;
}

ArmoredMessageCheck::ArmoredMessageCheck()
    : armor_(ArmorRules{.label = "MESSAGE", .checksum = ArmorChecksum::Required},
             [this](std::string_view decoded) { packets_.feed(decoded); }) {}

void ArmoredMessageCheck::fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
}

void ArmoredMessageCheck::feed(std::string_view bytes) {
    while (!bytes.empty() && error_.empty() && !armor_.failed()) {
        const std::size_t end = bytes.find('\n');
        const std::string_view piece = bytes.substr(0, end);
        if (line_.size() + piece.size() > kMaxArmorLine)
            return fail("an armor line longer than " + std::to_string(kMaxArmorLine) + " bytes");
        if (end == std::string_view::npos) {
            line_.append(piece);
            return;
        }
        if (line_.empty()) {
            line(piece);  // the whole line is in this piece: no copy
        } else {
            line_.append(piece);
            line(line_);
            line_.clear();
        }
        bytes.remove_prefix(end + 1);
    }
}

void ArmoredMessageCheck::line(std::string_view text) {
    if (!armor_.done()) return armor_.line(text);
    ++trailing_lines_;
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    if (!text.empty())
        fail("data after the END line (armor line " + std::to_string(armor_.lines_read() + trailing_lines_) + ")");
}

std::optional<std::string> ArmoredMessageCheck::finish() {
    if (error_.empty() && !armor_.failed() && !line_.empty()) {
        line(line_);
        line_.clear();
    }
    if (!error_.empty()) return error_;
    if (const auto armor_error = armor_.finish()) return armor_error;
    return packets_.finish();
}

}  // namespace mdcrypt
