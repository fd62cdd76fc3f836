// ASCII text helpers every reader here shares: mail syntax is ASCII case-insensitive and its white
// space is SP, HTAB and the line-end characters, whatever the locale says.
#pragma once

#include <string>
#include <string_view>

namespace mdcrypt {

// ASCII case-insensitive equality, as header field names, MIME tokens and addresses' domains compare.
bool iequals(std::string_view a, std::string_view b);
std::string to_lower_ascii(std::string_view s);

// Without trailing SP, HTAB and CR (a line cut at LF keeps its CR otherwise).
std::string_view trim_right(std::string_view s);

// Only SP, HTAB, CR and LF (or nothing).
bool is_blank(std::string_view s);

}  // namespace mdcrypt
