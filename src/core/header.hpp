// Header fields exactly as received, and the few readings of them the core needs.
//
// Limits (denial of service on hostile input), enforced by parse_header_block:
//   kMaxHeaderBlockBytes  total size of the header block; beyond it the block is "oversized".
//   kMaxHeaderFields      number of fields; beyond it the block is "oversized".
// An oversized header block is still encrypted whole when policy says encrypt: we never need to
// understand a message to encrypt it, only to decide.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mdcrypt {

inline constexpr std::size_t kMaxHeaderBlockBytes = 4 * 1024 * 1024;
inline constexpr std::size_t kMaxHeaderFields = 10'000;

struct HeaderField {
    std::string name;       // as received, case kept
    std::string raw_value;  // everything after the colon, folding and leading white space kept, CRLF line ends,
                            // no final CRLF
};

// "Name:raw_value\r\n"
std::string serialize_field(const HeaderField& field);

// Removes CRLF/LF before folding white space and trims surrounding white space.
std::string unfold(std::string_view raw_value);

// Content-* fields belong to the MIME entity, not to the message (RFC 2045 section 9).
bool is_content_field(std::string_view name);

// Value of the first field with this name, unfolded; nullopt if absent.
std::optional<std::string> first_value(const std::vector<HeaderField>& fields, std::string_view name);
std::size_t count_fields(const std::vector<HeaderField>& fields, std::string_view name);

struct ParsedHeader {
    std::vector<HeaderField> fields;
    std::size_t body_offset = 0;  // where the body starts in the input (after the empty line), or input size
    std::string envelope_line;    // a leading mbox "From " line (procmail passes one), with its line end
    bool lf_line_ends = false;    // the input used bare LF line ends
    bool oversized = false;       // a limit was hit; fields holds what was read before it
    std::vector<std::string> defects;  // lines that are not header fields, NUL bytes, ...
};

// Parses the header block at the start of a message (CRLF or LF line ends). Never throws on bad input:
// lines that are not fields are recorded as defects and, from the first one on, treated as the body
// unless they are continuation lines. A line holding a bare CR is such a line (readers disagree on
// where it ends), and a "From " line is the envelope only when it ends with LF and has no bare CR.
ParsedHeader parse_header_block(std::string_view message);

}  // namespace mdcrypt
