#include "core/armor.hpp"

#include <array>

#include "core/base64.hpp"

namespace mdcrypt {

namespace {

// CRC-24 (RFC 4880 6.1), computed left-aligned in 32 bits (polynomial 0x864CFB << 8) so that four
// bytes are folded in per step with four tables (slicing-by-4) instead of a chain of one table
// look-up per byte: every engine's whole output passes through it.
constexpr std::array<std::array<std::uint32_t, 256>, 4> kCrc24Tables = [] {
    std::array<std::array<std::uint32_t, 256>, 4> t{};
    for (std::uint32_t b = 0; b < 256; ++b) {
        std::uint32_t r = b << 24;
        for (int i = 0; i < 8; ++i) r = (r & 0x80000000u) ? (r << 1) ^ 0x864CFB00u : r << 1;
        t[0][b] = r;
    }
    for (std::size_t k = 1; k < 4; ++k)
        for (std::size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] << 8) ^ t[0][t[k - 1][b] >> 24];
    return t;
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
    const auto* p = reinterpret_cast<const unsigned char*>(data.data());
    std::size_t n = data.size();
    std::uint32_t r = crc << 8;
    for (; n >= 4; n -= 4, p += 4) {
        const std::uint32_t x = r ^ ((std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3]);
        r = kCrc24Tables[3][x >> 24] ^ kCrc24Tables[2][(x >> 16) & 0xff] ^ kCrc24Tables[1][(x >> 8) & 0xff] ^
            kCrc24Tables[0][x & 0xff];
    }
    for (; n > 0; --n, ++p) r = (r << 8) ^ kCrc24Tables[0][(r >> 24) ^ *p];
    return r >> 8;
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
    // At most 3 bytes per 4 characters, plus a group left open by the previous line.
    decoded_.resize(text.size() / 4 * 3 + 3);
    char* out = decoded_.data();
    std::size_t i = 0;
    // Whole groups of four data characters while no group is open: the common case, a table look-up
    // per character and no branch per byte (every engine's whole output passes through here).
    if (group_data_ == 0 && group_pad_ == 0 && !padded_) {
        for (; i + 4 <= text.size(); i += 4) {
            const int a = kBase64Table[static_cast<unsigned char>(text[i])];
            const int b = kBase64Table[static_cast<unsigned char>(text[i + 1])];
            const int c = kBase64Table[static_cast<unsigned char>(text[i + 2])];
            const int d = kBase64Table[static_cast<unsigned char>(text[i + 3])];
            if ((a | b | c | d) < 0) break;  // '=' or not base64: the careful loop below says which
            const auto bits = (static_cast<std::uint32_t>(a) << 18) | (static_cast<std::uint32_t>(b) << 12) |
                              (static_cast<std::uint32_t>(c) << 6) | static_cast<std::uint32_t>(d);
            *out++ = static_cast<char>((bits >> 16) & 0xff);
            *out++ = static_cast<char>((bits >> 8) & 0xff);
            *out++ = static_cast<char>(bits & 0xff);
        }
    }
    for (; i < text.size(); ++i) {
        const char c = text[i];
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
        for (int k = 0; k < group_data_ - 1; ++k) *out++ = static_cast<char>((bits >> (16 - 8 * k)) & 0xff);
        group_ = 0;
        group_data_ = 0;
        group_pad_ = 0;
    }
    decoded_.resize(static_cast<std::size_t>(out - decoded_.data()));
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
