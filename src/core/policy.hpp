// Per-domain policy: which domains are local and how their recipients are treated.
// A value: built once from the policy file, never changed afterwards.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/address.hpp"

namespace mdcrypt {

enum class Mode {
    Off,            // never encrypt
    Opportunistic,  // encrypt when a usable key exists, else deliver as is
    Required,       // encrypt, or refuse the recipient
};

std::string_view to_string(Mode mode);
std::optional<Mode> parse_mode(std::string_view text);

// How encrypt-class recipients of one SMTP transaction share a copy (see recipient_admission.hpp).
enum class Split {
    PerClass,      // all encrypt-class recipients share one copy encrypted to each one's key
    PerRecipient,  // each gets a transaction and copy of its own: no recipient sees another's key ID
};

std::string_view to_string(Split split);
std::optional<Split> parse_split(std::string_view text);

// How a `required` recipient without a usable key is refused.
enum class Refusal {
    Permanent,  // 550 5.7.1: the sender bounces it now
    Temporary,  // 450 4.7.1: the sender retries, in case the key is published meanwhile
};

std::string_view to_string(Refusal refusal);
std::optional<Refusal> parse_refusal(std::string_view text);

struct DomainPolicy {
    Mode mode = Mode::Opportunistic;
    // RFC 9788 header protection for mail encrypted for this domain (Subject "[...]" outside, the real
    // header inside). A message for several domains gets it when any of them has it on.
    bool header_protection = true;
    // The policy file table that set `mode` ("[default]", "[domain.\"example.org\"]",
    // "[recipient.\"boss@example.org\"]"); empty when it is the built-in default. For --explain.
    std::string mode_from{};
    Split split = Split::PerClass;
    Refusal refusal = Refusal::Permanent;
};

// Which entry of the policy applies to a recipient, for --explain and logs.
struct PolicyEntry {
    DomainPolicy policy;
    std::string entry;  // "[recipient.\"boss@example.org\"]", "[domain.\"*.example.org\"]"
};

struct Policy {
    DomainPolicy defaults;                       // [default]
    std::map<std::string, DomainPolicy> domains; // [domain."example.org"], keys lower-cased
    // [recipient."boss@example.org"]: keys are whole addresses, ASCII lower-cased, without a
    // subaddress. What an entry leaves out comes from its domain's entry, else from [default].
    std::map<std::string, DomainPolicy> recipients;
    // Characters that start a subaddress ("alice+lists@"), from [keys] subaddress_delimiter in the main
    // file; empty = none. Recipient entries and key lookups use the address without it.
    std::string subaddress_delimiter = "+";
    // Header fields deleted from every message that gets encrypted (strip_fields_when_encrypted), e.g.
    // DKIM-Signature, which no longer verifies once the body is replaced. Empty by default.
    std::vector<std::string> strip_fields_when_encrypted;

    // The policy for a recipient's domain when the domain is local (listed), else nullopt.
    std::optional<DomainPolicy> for_domain(std::string_view domain) const;

    // The address as keys are looked up and recipient entries matched: the local part without its
    // subaddress (see strip_subaddress), the domain lower-cased.
    Address lookup_address(const Address& address) const;

    // The policy for a recipient: its [recipient."..."] entry (local part compared ASCII
    // case-insensitively, after the subaddress is removed), else its domain's; nullopt when neither
    // exists (the recipient is not local). A recipient entry makes its address local by itself.
    std::optional<DomainPolicy> for_recipient(const Address& address) const;
    std::optional<PolicyEntry> entry_for(const Address& address) const;
};

}  // namespace mdcrypt
