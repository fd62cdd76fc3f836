#include "core/armor.hpp"

#include <array>

#include "core/base64.hpp"

namespace mdcrypt {

namespace {

// CRC-24 of each byte value: a table look-up per byte (gpg's whole output passes through it).
constexpr std::array<std::uint32_t, 256> kCrc24Table = [] {
    std::array<std::uint32_t, 256> table{};
    for (std::uint32_t b = 0; b < 256; ++b) {
        std::uint32_t crc = b << 16;
        for (int i = 0; i < 8; ++i) {
            crc <<= 1;
            if (crc & 0x1000000u) crc ^= 0x1864CFBu;
        }
        table[b] = crc & 0xFFFFFFu;
    }
    return table;
}();

// base64_value for every byte, looked up once per character.
constexpr std::array<std::int8_t, 256> kBase64Table = [] {
    std::array<std::int8_t, 256> table{};
    for (int c = 0; c < 256; ++c) table[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(base64_value(static_cast<char>(c)));
    return table;
}();

std::string_view trim_line(std::string_view text) {
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

}  // namespace

std::uint32_t crc24_update(std::uint32_t crc, std::string_view data) {
    for (const char c : data)
        crc = ((crc << 8) ^ kCrc24Table[((crc >> 16) ^ static_cast<unsigned char>(c)) & 0xff]) & 0xFFFFFFu;
    return crc;
}

std::uint32_t crc24(std::string_view data) { return crc24_update(kCrc24Init, data); }

std::optional<std::uint32_t> armor_checksum_value(std::string_view line) {
    if (line.size() != 5 || line[0] != '=') return std::nullopt;
    std::uint32_t sum = 0;
    for (std::size_t i = 1; i < 5; ++i) {
        const int v = base64_value(line[i]);
        if (v < 0) return std::nullopt;
        sum = (sum << 6) | static_cast<std::uint32_t>(v);
    }
    return sum;
}

ArmorReader::ArmorReader(ArmorRules rules, std::function<void(std::string_view)> data)
    : rules_(rules),
      data_(std::move(data)),
      begin_("-----BEGIN PGP " + std::string(rules.label) + "-----"),
      end_("-----END PGP " + std::string(rules.label) + "-----") {}

std::string ArmorReader::where() const { return " (armor line " + std::to_string(line_number_) + ")"; }

void ArmorReader::fail(std::string why) {
    if (state_ == State::Failed) return;
    state_ = State::Failed;
    error_ = std::move(why);
}

bool ArmorReader::end_line(std::string_view text) const { return text == end_; }

void ArmorReader::line(std::string_view raw) {
    ++line_number_;
    const std::string_view text = trim_line(raw);
    switch (state_) {
        case State::Begin:
            if (text.empty()) return;
            if (text != begin_) return fail("the armor does not begin with " + begin_);
            state_ = State::Headers;
            return;
        case State::Headers:
            if (text.empty()) {
                state_ = State::Body;
                return;
            }
            if (text.find(':') == std::string_view::npos && !rules_.blank_line_after_headers) {
                state_ = State::Body;  // gpg reads armor whose blank line is missing: base64 has no ':'
                return body_line(text);
            }
            header_bytes_ += text.size();
            if (text.find(": ") == std::string_view::npos) return fail("a malformed armor header" + where());
            if (++header_lines_ > rules_.max_header_lines || header_bytes_ > rules_.max_header_bytes)
                return fail("armor headers longer than allowed" + where());
            return;
        case State::Body:
            return body_line(text);
        case State::Checksum:
            if (!end_line(text)) return fail("no END line after the armor checksum" + where());
            state_ = State::Done;
            return;
        case State::Done:
        case State::Failed:
            return;
    }
}

void ArmorReader::body_line(std::string_view text) {
    if (end_line(text)) {
        if (rules_.checksum == ArmorChecksum::Required) return fail("no armor checksum before the END line");
        if (group_data_ + group_pad_ != 0) return fail("the base64 data ends in the middle of a group" + where());
        state_ = State::Done;
        return;
    }
    if (const auto sum = armor_checksum_value(text)) {
        if (group_data_ + group_pad_ != 0) return fail("the base64 data ends in the middle of a group" + where());
        if (rules_.checksum != ArmorChecksum::FormOnly && *sum != crc_)
            return fail("the armor checksum does not match the data");
        state_ = State::Checksum;
        return;
    }
    if (!text.empty() && text[0] == '=' && text.size() == 5) return fail("a malformed armor checksum" + where());
    data_line(text);
}

void ArmorReader::data_line(std::string_view text) {
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
    if (rules_.checksum != ArmorChecksum::FormOnly) crc_ = crc24_update(crc_, decoded_);
    if (!decoded_.empty()) data_(decoded_);
}

std::optional<std::string> ArmorReader::finish() const {
    switch (state_) {
        case State::Done: return std::nullopt;
        case State::Failed: return error_;
        case State::Begin: return "no armored message: no " + begin_ + " line";
        case State::Headers:
        case State::Body: return std::string("the armor is cut off before its checksum and END line");
        case State::Checksum: return std::string("the armor is cut off before its END line");
    }
    return error_;
}

}  // namespace mdcrypt
