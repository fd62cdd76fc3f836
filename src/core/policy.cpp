#include "core/policy.hpp"

#include "core/address.hpp"
#include "core/header.hpp"
#include "core/key_paths.hpp"

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

std::string_view to_string(Split split) {
    switch (split) {
        case Split::PerClass: return "per-class";
        case Split::PerRecipient: return "per-recipient";
    }
    return "?";
}

std::optional<Split> parse_split(std::string_view text) {
    for (Split split : {Split::PerClass, Split::PerRecipient})
        if (text == to_string(split)) return split;
    return std::nullopt;
}

std::string_view to_string(Refusal refusal) {
    switch (refusal) {
        case Refusal::Permanent: return "permanent";
        case Refusal::Temporary: return "temporary";
    }
    return "?";
}

std::optional<Refusal> parse_refusal(std::string_view text) {
    for (Refusal refusal : {Refusal::Permanent, Refusal::Temporary})
        if (text == to_string(refusal)) return refusal;
    return std::nullopt;
}

// Wildcard entries live in `domains` under their written key ("*.example.org"): an exact entry wins,
// then the wildcard with the longest parent, so "*.lists.example.org" beats "*.example.org".
namespace {

// The domain entry and its key as written in `domains` ("example.org" or "*.example.org").
std::optional<std::pair<std::string, DomainPolicy>> domain_entry(const std::map<std::string, DomainPolicy>& domains,
                                                                 std::string_view domain) {
    if (domain.empty()) return std::nullopt;
    const std::string name = to_lower_ascii(domain);
    if (auto it = domains.find(name); it != domains.end()) return *it;
    for (auto dot = name.find('.', 1); dot != std::string::npos; dot = name.find('.', dot + 1)) {
        if (auto it = domains.find("*" + name.substr(dot)); it != domains.end()) return *it;
    }
    return std::nullopt;
}

}  // namespace

std::optional<DomainPolicy> Policy::for_domain(std::string_view domain) const {
    if (auto entry = domain_entry(domains, domain)) return entry->second;
    return std::nullopt;
}

Address Policy::lookup_address(const Address& address) const {
    return Address{strip_subaddress(address.local, subaddress_delimiter), to_lower_ascii(address.domain)};
}

std::optional<PolicyEntry> Policy::entry_for(const Address& address) const {
    const Address stripped = lookup_address(address);
    const std::string key = to_lower_ascii(stripped.local) + "@" + stripped.domain;
    if (auto it = recipients.find(key); it != recipients.end())
        return PolicyEntry{it->second, "[recipient.\"" + key + "\"]"};
    if (auto entry = domain_entry(domains, stripped.domain))
        return PolicyEntry{entry->second, "[domain.\"" + entry->first + "\"]"};
    return std::nullopt;
}

std::optional<DomainPolicy> Policy::for_recipient(const Address& address) const {
    if (auto entry = entry_for(address)) return entry->policy;
    return std::nullopt;
}

}  // namespace mdcrypt
