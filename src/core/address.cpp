#include "core/address.hpp"

#include <algorithm>

#include "core/header.hpp"
#include "core/text.hpp"

namespace mdcrypt {

std::optional<Address> parse_address(std::string_view text) {
    auto trim = [](std::string_view s) {
        while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
        while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
        return s;
    };
    text = trim(text);
    if (text.size() >= 2 && text.front() == '<' && text.back() == '>') text = trim(text.substr(1, text.size() - 2));
    if (std::any_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 32 || c == 127; }))
        return std::nullopt;
    const auto at = text.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == text.size()) return std::nullopt;
    return Address{std::string(text.substr(0, at)), to_lower_ascii(text.substr(at + 1))};
}

}  // namespace mdcrypt
