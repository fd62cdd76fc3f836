// Reading a Content-Type field value (RFC 2045 section 5.1, RFC 2231) well enough to decide what a
// message is, and a Content-Disposition value (RFC 2183) by the same lexer: the one reader of these
// fields in the program. Nothing here is ever written back into a message.
//
// Why this is our own parser and not mimetic::ContentType. A probe of mimetic 0.9.8 showed it splits
// the value on every ';' and '=' with no notion of quoting or comments, so:
//   - boundary="a;b" becomes boundary="\"a" plus an empty parameter; name="a\"b" keeps the backslash;
//   - comments are not removed anywhere: "text/plain (x)" has subtype "plain (x)", and a ';' inside a
//     comment splits it; " text / plain" keeps the spaces in type and subtype;
//   - RFC 2231 is not implemented: title*0*, title*1* come back raw, not joined or percent-decoded;
//   - nothing is ever invalid: "", "text", "@@@" all parse, and an unterminated quote stays in the value;
//   - there are no limits: 1 MB of ';' gives a million empty parameters (tens of MB of list nodes).
// Its results are right only for plain "token/token; token=token" input, which is the easy part, and
// its tokenizer (mimetic/tokenizer.h) is the same quote-unaware delimiter split. Running two parsers
// for one field would only add ways for them to disagree, so every part of the reading is ours.
//
// Limits (denial of service on hostile input). Going beyond any of them makes the field invalid, the
// same as a syntax error: we never act on a partial reading.
//   kMaxContentTypeParams      parameter segments (each name=value, every RFC 2231 continuation
//                              segment and every duplicate counts; empty ";;" separators do not).
//   kMaxContentTypeValueBytes  one token (type, subtype, parameter name or value) or quoted string as
//                              written, and one parameter value once its continuation segments are
//                              joined and percent-decoded.
//   kMaxContentTypeCommentDepth  nesting of (comments); counted, never recursed.
// The work is one left-to-right pass over the input plus joining at most kMaxContentTypeParams segments
// (quadratic in that small number), whatever the input size; memory grows at most linearly with it.
//
// An invalid field (syntax error, a NUL byte anywhere, even as %00, or a limit exceeded) yields
// valid = false and the RFC 2045 section 5.2 default, text/plain; charset=us-ascii, which is what
// callers must then assume.
// Lenient on purpose, because real mail does it and the meaning is unambiguous: white space (including
// CR and LF) and comments between any two tokens, empty ";;" and a trailing ";", 8-bit bytes inside
// quoted strings and comments (RFC 6532). Bytes that are not token characters outside quotes are errors.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mdcrypt {

inline constexpr std::size_t kMaxContentTypeParams = 64;
inline constexpr std::size_t kMaxContentTypeValueBytes = 16 * 1024;
inline constexpr int kMaxContentTypeCommentDepth = 8;

// The RFC 2231 metadata of a parameter whose value was written in the extended form (name*=...).
// The value in ContentType::params keeps the decoded bytes in this charset: nothing is converted.
struct ExtendedParamInfo {
    std::string name;      // lower-cased, without the '*' and section suffixes
    std::string charset;   // lower-cased; empty when the value did not declare one
    std::string language;  // as written; often empty
};

// The parameters of a Content-Type or Content-Disposition value (the same syntax after the first token).
struct MimeParameters {
    // One entry per parameter name, in order of first appearance: names lower-cased (RFC 2231
    // suffixes removed), values unquoted, continuations joined, extended values percent-decoded.
    // A repeated name keeps its first occurrence, whichever of the forms name=, name*= or name*0= that is.
    // A continuation set without segment 0 has no value and is left out; segments after a gap in the
    // numbering are ignored.
    std::vector<std::pair<std::string, std::string>> params;
    std::vector<ExtendedParamInfo> extended;  // only for parameters taken from the extended form
    // Every parameter name as written (lower-cased, RFC 2231 suffixes kept), one per name=value
    // segment: duplicates and each continuation segment included. What a reader that joins and
    // de-duplicates nothing would see. An invalid Content-Type has its default's: "charset".
    std::vector<std::string> written_names;

    // Value of a parameter, name compared case-insensitively.
    std::optional<std::string> param(std::string_view name) const;
    // How many segments set `name` in any form: name, name*, name*0, name*0*, and any other name*...
    // a lenient reader might cut back to it. More than one means readers may disagree on the value.
    std::size_t param_count(std::string_view name) const;
    bool has_param(std::string_view name) const { return param_count(name) > 0; }
};

struct ContentType : MimeParameters {
    std::string type;     // lower-cased
    std::string subtype;  // lower-cased
    bool valid = false;   // false: the field was unusable and the members hold the RFC 2045 default

    // True for any multipart/*. A multipart without a usable boundary parameter cannot be split; callers
    // that need the parts check param("boundary") themselves.
    bool is_multipart() const;
};

// Content-Disposition (RFC 2183): one token, then Content-Type's parameter syntax, limits included.
struct ContentDisposition : MimeParameters {
    std::string type;    // lower-cased ("inline", "attachment", or any other token); empty when invalid
    bool valid = false;  // false: unusable, nothing in it may be relied on (no parameters either)
};

// Parses the value of a Content-Type field, unfolded (see unfold() in header.hpp; left-over CR and LF
// are read as folding white space). Never throws on bad input.
ContentType parse_content_type(std::string_view unfolded_value);

// Parses the value of a Content-Disposition field by the same rules. Never throws on bad input.
ContentDisposition parse_content_disposition(std::string_view unfolded_value);

// How often `word` occurs in a field value as written, case-insensitively and wherever it is: a
// parameter name, inside a quoted value, in a comment. A reader that splits on every ';' and '=' without
// regard to quotes or comments (mimetic does) may take any of them for a parameter of that name, so a
// decision that must hold for every reader wants this to be exactly one. Never less than
// param_count(word) of the parsed value.
std::size_t count_mentions(std::string_view value, std::string_view word);

}  // namespace mdcrypt
