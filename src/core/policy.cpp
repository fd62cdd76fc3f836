#include "core/policy.hpp"

#include "core/address.hpp"
#include "core/header.hpp"
#include "core/key_paths.hpp"
#include "core/text.hpp"

namespace mdcrypt {

namespace {

// Each policy enum's names as written in the policy file, in one table per enum.
template <class E>
struct Named {
    E value;
    std::string_view name;
};

constexpr Named<Mode> kModes[] = {{Mode::Off, "off"}, {Mode::Opportunistic, "opportunistic"}, {Mode::Required, "required"}};
constexpr Named<Split> kSplits[] = {{Split::PerClass, "per-class"}, {Split::PerRecipient, "per-recipient"}};
constexpr Named<Refusal> kRefusals[] = {{Refusal::Permanent, "permanent"}, {Refusal::Temporary, "temporary"}};

template <class E, std::size_t N>
std::string_view name_of(const Named<E> (&table)[N], E value) {
    for (const auto& entry : table)
        if (entry.value == value) return entry.name;
    return "?";
}

template <class E, std::size_t N>
std::optional<E> value_of(const Named<E> (&table)[N], std::string_view name) {
    for (const auto& entry : table)
        if (entry.name == name) return entry.value;
    return std::nullopt;
}

}  // namespace

std::string_view to_string(Mode mode) { return name_of(kModes, mode); }
std::optional<Mode> parse_mode(std::string_view text) { return value_of(kModes, text); }
std::string_view to_string(Split split) { return name_of(kSplits, split); }
std::optional<Split> parse_split(std::string_view text) { return value_of(kSplits, text); }
std::string_view to_string(Refusal refusal) { return name_of(kRefusals, refusal); }
std::optional<Refusal> parse_refusal(std::string_view text) { return value_of(kRefusals, text); }

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
