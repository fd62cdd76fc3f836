#include "core/openpgp_message_check.hpp"

#include <algorithm>
#include <array>

#include "core/base64.hpp"
#include "core/openpgp_keys.hpp"

namespace mdcrypt {

namespace {

constexpr std::size_t kMaxArmorLine = 4096;
constexpr std::string_view kBegin = "-----BEGIN PGP MESSAGE-----";
constexpr std::string_view kEnd = "-----END PGP MESSAGE-----";
constexpr int kTagSessionKey = 1;
constexpr int kTagSeipd = 18;
constexpr int kTagAead = 20;

// base64_value for every byte, looked up once per character of gpg's output.
constexpr std::array<std::int8_t, 256> kBase64Table = [] {
    std::array<std::int8_t, 256> table{};
    for (int c = 0; c < 256; ++c) table[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(base64_value(static_cast<char>(c)));
    return table;
}();

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

std::string ArmoredMessageCheck::where() const { return " (armor line " + std::to_string(line_number_) + ")"; }

void ArmoredMessageCheck::fail(std::string why) {
    if (state_ == State::Failed) return;
    state_ = State::Failed;
    error_ = std::move(why);
}

void ArmoredMessageCheck::feed(std::string_view bytes) {
    while (!bytes.empty() && state_ != State::Failed) {
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
    ++line_number_;
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    switch (state_) {
        case State::Begin:
            if (text.empty()) return;
            if (text != kBegin) return fail("the output does not begin with " + std::string(kBegin));
            state_ = State::Headers;
            return;
        case State::Headers:
            if (text.empty()) state_ = State::Body;
            else if (text.find(": ") == std::string_view::npos) fail("a malformed armor header" + where());
            return;
        case State::Body:
            if (text == kEnd) return fail("no armor checksum before the END line");
            if (text.size() == 5 && text[0] == '=' && base64_value(text[1]) >= 0) {
                if (group_data_ + group_pad_ != 0) return fail("the base64 data ends in the middle of a group" + where());
                std::uint32_t sum = 0;
                for (std::size_t i = 1; i < 5; ++i) {
                    const int v = base64_value(text[i]);
                    if (v < 0) return fail("a malformed armor checksum" + where());
                    sum = (sum << 6) | static_cast<std::uint32_t>(v);
                }
                if (sum != crc_) return fail("the armor checksum does not match the data");
                state_ = State::Checksum;
                return;
            }
            return body_line(text);
        case State::Checksum:
            if (text != kEnd) return fail("no END line after the armor checksum" + where());
            state_ = State::End;
            return;
        case State::End:
            if (!text.empty()) fail("data after the END line" + where());
            return;
        case State::Failed:
            return;
    }
}

void ArmoredMessageCheck::body_line(std::string_view text) {
    decoded_.clear();
    for (const char c : text) {
        if (c == '=') {
            if (group_data_ < 2) return fail("misplaced base64 padding" + where());
            ++group_pad_;
            padded_ = true;
        } else {
            const int v = kBase64Table[static_cast<unsigned char>(c)];
            if (v < 0) return fail("a character that is not base64" + where());
            if (padded_) return fail("base64 data after padding" + where());
            group_ = (group_ << 6) | static_cast<std::uint32_t>(v);
            ++group_data_;
        }
        if (group_data_ + group_pad_ < 4) continue;
        // A whole group of four: as many bytes as it has data characters, less one.
        const std::uint32_t bits = group_ << (6 * group_pad_);
        for (int k = 0; k < group_data_ - 1; ++k) decoded_.push_back(static_cast<char>((bits >> (16 - 8 * k)) & 0xff));
        group_ = 0;
        group_data_ = 0;
        group_pad_ = 0;
    }
    crc_ = crc24_update(crc_, decoded_);
    packets_.feed(decoded_);
}

std::optional<std::string> ArmoredMessageCheck::finish() {
    if (state_ != State::Failed && !line_.empty()) {
        line(line_);
        line_.clear();
    }
    if (state_ == State::Failed) return error_;
    if (state_ != State::End) {
        switch (state_) {
            case State::Begin: return "no armored message in the output";
            case State::Headers:
            case State::Body: return "the armor is cut off before its checksum and END line";
            default: return "the armor is cut off before its END line";
        }
    }
    return packets_.finish();
}

}  // namespace mdcrypt
