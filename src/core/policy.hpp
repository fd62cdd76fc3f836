// Per-domain policy: which domains are local and how their recipients are treated.
// A value: built once from the policy file, never changed afterwards.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mdcrypt {

enum class Mode {
    Off,            // never encrypt
    Opportunistic,  // encrypt when a usable key exists, else deliver as is
    Required,       // encrypt, or refuse the recipient
};

std::string_view to_string(Mode mode);
std::optional<Mode> parse_mode(std::string_view text);

struct DomainPolicy {
    Mode mode = Mode::Opportunistic;
    // RFC 9788 header protection for mail encrypted for this domain (Subject "[...]" outside, the real
    // header inside). A message for several domains gets it when any of them has it on.
    bool header_protection = true;
};

struct Policy {
    DomainPolicy defaults;                       // [default]
    std::map<std::string, DomainPolicy> domains; // [domain."example.org"], keys lower-cased
    // Header fields deleted from every message that gets encrypted (strip_fields_when_encrypted), e.g.
    // DKIM-Signature, which no longer verifies once the body is replaced. Empty by default.
    std::vector<std::string> strip_fields_when_encrypted;

    // The policy for a recipient's domain when the domain is local (listed), else nullopt.
    std::optional<DomainPolicy> for_domain(std::string_view domain) const;
};

}  // namespace mdcrypt
