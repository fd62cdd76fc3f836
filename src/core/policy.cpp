#include "core/policy.hpp"

#include "core/header.hpp"

namespace mdcrypt {

std::string_view to_string(Mode mode) {
    switch (mode) {
        case Mode::Off: return "off";
        case Mode::Opportunistic: return "opportunistic";
        case Mode::Required: return "required";
    }
    return "?";
}

std::optional<Mode> parse_mode(std::string_view text) {
    for (Mode mode : {Mode::Off, Mode::Opportunistic, Mode::Required})
        if (text == to_string(mode)) return mode;
    return std::nullopt;
}

// Wildcard entries live in `domains` under their written key ("*.example.org"): an exact entry wins,
// then the wildcard with the longest parent, so "*.lists.example.org" beats "*.example.org".
std::optional<DomainPolicy> Policy::for_domain(std::string_view domain) const {
    if (domain.empty()) return std::nullopt;
    const std::string name = to_lower_ascii(domain);
    if (auto it = domains.find(name); it != domains.end()) return it->second;
    for (auto dot = name.find('.', 1); dot != std::string::npos; dot = name.find('.', dot + 1)) {
        if (auto it = domains.find("*" + name.substr(dot)); it != domains.end()) return it->second;
    }
    return std::nullopt;
}

}  // namespace mdcrypt
