#include "core/decision.hpp"

#include <algorithm>

namespace mdcrypt {

RecipientDecision classify_recipient(const std::string& address, const std::optional<DomainPolicy>& domain_policy,
                                     const KeyLookup& lookup) {
    RecipientDecision d;
    d.address = address;
    if (!domain_policy) {
        d.reason = "not a local domain";
        return d;
    }
    d.local = true;
    d.mode = domain_policy->mode;
    d.header_protection = domain_policy->header_protection;
    d.split = domain_policy->split;
    d.refusal = domain_policy->refusal;
    if (d.mode == Mode::Off) {
        d.reason = "policy mode is off";
        return d;
    }
    switch (lookup.status) {
        case KeyLookup::Status::Error:
            d.cls = RecipientClass::Defer;
            d.reason = "key lookup failed: " + lookup.reason;
            return d;
        case KeyLookup::Status::Found:
            d.cls = RecipientClass::Encrypt;
            d.key = lookup.key;
            d.reason = "usable key " + (lookup.key ? lookup.key->fingerprint : std::string("?"));
            return d;
        case KeyLookup::Status::NotFound:
            break;
    }
    if (d.mode == Mode::Required) {
        d.cls = RecipientClass::Refuse;
        d.reason = "encryption required but no usable key: " + lookup.reason;
    } else {
        d.reason = "no usable key: " + lookup.reason;
    }
    return d;
}

MessageDecision decide_message(std::span<const RecipientDecision> recipients) {
    using Action = MessageDecision::Action;
    MessageDecision m;
    if (recipients.empty()) {
        m.action = Action::Defer;
        m.reason = "no recipients";
        return m;
    }
    auto first_of = [&](RecipientClass c) {
        return std::find_if(recipients.begin(), recipients.end(), [c](const RecipientDecision& r) { return r.cls == c; });
    };
    if (auto r = first_of(RecipientClass::Defer); r != recipients.end()) {
        m.action = Action::Defer;
        m.reason = r->address + ": " + r->reason;
        return m;
    }
    if (auto r = first_of(RecipientClass::Refuse); r != recipients.end()) {
        m.action = r->refusal == Refusal::Temporary ? Action::Defer : Action::Reject;
        m.reason = r->address + ": " + r->reason;
        return m;
    }
    const auto encrypt = first_of(RecipientClass::Encrypt);
    const auto plain = first_of(RecipientClass::Plain);
    if (encrypt == recipients.end()) {
        m.action = Action::Pass;
        m.reason = recipients.size() == 1 ? recipients.front().reason : "no recipient to encrypt for";
        return m;
    }
    if (plain != recipients.end()) {
        m.action = Action::Defer;
        m.mixed = true;
        m.reason = "recipients need different forms (" + encrypt->address + " encrypted, " + plain->address +
                   " plain); deliver them in separate transactions";
        return m;
    }
    for (const auto& r : recipients) {
        if (r.cls != RecipientClass::Encrypt || r.split != Split::PerRecipient) continue;
        for (const auto& other : recipients)
            if (other.cls == RecipientClass::Encrypt && other.key && r.key && other.key->fingerprint != r.key->fingerprint) {
                m.action = Action::Defer;
                m.mixed = true;
                m.reason = r.address + " gets a copy of its own (split = per-recipient), not shared with " +
                           other.address + "; deliver them in separate transactions";
                return m;
            }
    }
    m.action = Action::Encrypt;
    for (const auto& r : recipients)
        if (r.key && std::find(m.fingerprints.begin(), m.fingerprints.end(), r.key->fingerprint) == m.fingerprints.end()) {
            m.fingerprints.push_back(r.key->fingerprint);
            m.keys.push_back(r.key->encryption_key());
        }
    m.reason = "encrypting to " + std::to_string(m.fingerprints.size()) + " key(s)";
    return m;
}

bool passes_when_already_encrypted(const MessageDecision& decision, std::span<const RecipientDecision> recipients) {
    if (recipients.empty() || decision.action == MessageDecision::Action::Pass) return false;
    return std::none_of(recipients.begin(), recipients.end(),
                        [](const RecipientDecision& r) { return r.cls == RecipientClass::Defer; });
}

}  // namespace mdcrypt
