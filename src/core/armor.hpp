// OpenPGP ASCII armor (RFC 9580 section 6.2), read line by line: one reader for the three places
// that meet it, each with its rules stated in ArmorRules rather than in a copy of the reader:
// - gpg's output before it replaces a body (openpgp_message_check): strict, checksum required and
//   verified; a cut-off or altered armor must never pass;
// - mail being inspected for "already encrypted" (protection_detect): strict framing, bounded header
//   and data, the checksum's form only (detection reads at most part of a body);
// - key files (openpgp_keys): as gpg reads them, a line without ':' may start the data without the
//   blank line, and a checksum, when present, must match (a damaged file is refused).
// Base64 inside is decoded in groups of four with padding only at the end; a line may be at most
// kMaxArmorLine bytes (callers that split lines enforce it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mdcrypt {

inline constexpr std::size_t kMaxArmorLine = 4096;

// CRC-24 of RFC 9580 section 6.1. For data in pieces, start from kCrc24Init and pass each piece
// with the value so far.
inline constexpr std::uint32_t kCrc24Init = 0xB704CEu;
std::uint32_t crc24(std::string_view data);
std::uint32_t crc24_update(std::uint32_t crc, std::string_view data);

// "=XXXX": the checksum line's value, nullopt when `line` is not one.
std::optional<std::uint32_t> armor_checksum_value(std::string_view line);

enum class ArmorChecksum {
    Required,             // must be present and match
    VerifiedWhenPresent,  // may be absent; when present it must match
    FormOnly,             // may be absent; its value is not compared (the data may be read in part)
};

struct ArmorRules {
    std::string_view label;                 // "MESSAGE" for "-----BEGIN PGP MESSAGE-----"
    bool blank_line_after_headers = true;   // false: a line without ':' already starts the data
    std::size_t max_header_lines = 64;
    std::size_t max_header_bytes = 64 * 1024;
    ArmorChecksum checksum = ArmorChecksum::Required;
};

class ArmorReader {
public:
    // `data` receives the decoded bytes, a line's worth at a time.
    ArmorReader(ArmorRules rules, std::function<void(std::string_view)> data);

    // One line without its line end (trailing CR, spaces and tabs are ignored). The first line must
    // be the BEGIN line: callers that search for it skip what comes before.
    void line(std::string_view text);
    // The END line has been read (lines after it are the caller's business).
    bool done() const { return state_ == State::Done; }
    bool failed() const { return state_ == State::Failed; }
    // Past the header lines: base64 data, the checksum or the END line come next.
    bool in_data() const { return state_ == State::Body || state_ == State::Checksum; }
    // What is wrong with the lines read, nullopt when the armor ended correctly. For armor that
    // stopped early, says where it was cut off.
    std::optional<std::string> finish() const;
    std::uint64_t lines_read() const { return line_number_; }

private:
    enum class State { Begin, Headers, Body, Checksum, Done, Failed };
    void fail(std::string why);
    void body_line(std::string_view text);  // data, the checksum or the END line
    void data_line(std::string_view text);
    bool end_line(std::string_view text) const;
    std::string where() const;

    ArmorRules rules_;
    std::function<void(std::string_view)> data_;
    std::string begin_, end_;
    State state_ = State::Begin;
    std::string error_;
    std::uint64_t line_number_ = 0;
    std::size_t header_lines_ = 0, header_bytes_ = 0;
    std::uint32_t group_ = 0;  // base64: the bits of the current group of four characters
    int group_data_ = 0;       // its data characters so far
    int group_pad_ = 0;        // its '=' so far
    bool padded_ = false;      // '=' seen: no more data may follow
    std::uint32_t crc_ = kCrc24Init;
    std::string decoded_;      // bytes decoded from the current line
};

}  // namespace mdcrypt
