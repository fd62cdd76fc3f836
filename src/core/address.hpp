// Envelope addresses as the MTA hands them over ("<Alice@Example.ORG>").
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mdcrypt {

struct Address {
    std::string local;   // as given
    std::string domain;  // lower-cased
    std::string full() const { return local + "@" + domain; }
};

// Strips angle brackets and white space and splits at the last '@'. nullopt for the null sender "<>",
// addresses without '@' (local aliases), an empty local part or domain, or control characters.
std::optional<Address> parse_address(std::string_view text);

}  // namespace mdcrypt
