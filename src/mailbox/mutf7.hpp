// IMAP's modified UTF-7 mailbox names (RFC 3501 section 5.1.3), as IMAP LIST sends them, to the
// UTF-8 names doveadm takes.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mdcrypt {

// nullopt for a name that is not valid modified UTF-7.
std::optional<std::string> mutf7_to_utf8(std::string_view name);

}  // namespace mdcrypt
