// Content-Transfer-Encoding (RFC 2045 section 6): which encoding an entity declares, and undoing
// quoted-printable. Base64 is decoded elsewhere (with the OpenPGP armor, which shares its alphabet).
// Reads sender bytes: never throws on bad input, work and output are linear in the input.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/header.hpp"

namespace mdcrypt {

// The value of a hexadecimal digit (either case), or -1.
int hex_value(char c);

// The entity's Content-Transfer-Encoding, lower-cased: "7bit" (RFC 2045's default) when there is none,
// otherwise the unfolded value exactly, so anything besides the mechanism (a comment, a second word)
// leaves a name no caller knows and the body is not decoded: another reader might decode it otherwise.
// nullopt, with `why` set, when the field is repeated (readers may take either).
std::optional<std::string> transfer_encoding_of(const std::vector<HeaderField>& fields, std::string& why);

// RFC 2045 section 6.7: "=XX" (hex digits of either case) becomes the byte, '=' before a line end
// (CRLF or LF) is a soft line break and disappears with it, and a '=' that is neither is kept as written
// (the section's advice for robust decoders). Every other byte is copied. The output is never larger than
// the input; nothing is read past its end.
std::string decode_quoted_printable(std::string_view in);

}  // namespace mdcrypt
