// IMAP response data (RFC 3501 section 4): atoms, quoted strings, literals, parenthesized lists and NIL,
// parsed from one response line. Pure, so the parser is tested without a server.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mdcrypt {

// A server said something this client cannot read; the session is not trusted further.
class ImapProtocolError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Stands for a literal in a response line (IMAP lines never carry NUL): the connection puts one
// where each {n} literal was and keeps the literal's bytes aside, in order.
inline constexpr char kLiteralMarker = '\0';

struct ImapValue {
    enum class Kind { Atom, String, Literal, List, Nil };
    Kind kind = Kind::Atom;
    std::string text;             // Atom, String
    std::size_t literal = 0;      // Literal: its index among the line's literals
    std::vector<ImapValue> items;  // List

    bool is_atom(std::string_view name) const;  // case-insensitive
};

// Parses values separated by single spaces until the end of `text`. Nesting deeper than 16 lists, an
// unterminated string or list, or a stray ')' throws ImapProtocolError.
std::vector<ImapValue> parse_imap_values(std::string_view text);

// An untagged FETCH response's item list: "UID 7 FLAGS (\Seen) ..." as name -> value pairs.
struct FetchItems {
    std::optional<std::uint32_t> uid;
    std::optional<std::vector<std::string>> flags;
    std::optional<std::string> internal_date;
    std::optional<std::uint64_t> modseq;
    std::optional<std::uint64_t> size;
    std::optional<std::size_t> body_literal;  // BODY[] as a literal (index)
    bool body_nil = false;
};
FetchItems read_fetch_items(const ImapValue& list);

// A number an IMAP server sent (nz-number, mod-sequence): digits only, within range, else throws.
std::uint64_t imap_number(std::string_view text, std::uint64_t max = UINT64_MAX);

// UIDs as an IMAP sequence set, ranges folded: {1,2,3,7} -> "1:3,7". `uids` ascending.
std::string imap_uid_set(const std::vector<std::uint32_t>& uids);
// The UIDs of a sequence set a server sent ("1:3,7"); more than `max_count` UIDs throws.
std::vector<std::uint32_t> parse_uid_set(std::string_view text, std::size_t max_count = 1 << 20);

// `text` as an IMAP quoted string; throws std::invalid_argument for CR, LF or NUL, which only a
// literal can carry.
std::string imap_quoted(std::string_view text);

// The response code of a status response's text: "[APPENDUID 38505 3955] APPEND completed" ->
// "APPENDUID 38505 3955". Empty when there is none.
std::string_view response_code(std::string_view text);

}  // namespace mdcrypt
