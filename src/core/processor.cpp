#include "core/processor.hpp"

#include <exception>

#include "core/address.hpp"

namespace mdcrypt {

RecipientDecision classify_envelope_recipient(const Policy& policy, std::string_view envelope_address,
                                              const KeyLookupFn& lookup, std::int64_t now) {
    const auto address = parse_address(envelope_address);
    if (!address) {
        RecipientDecision d;
        d.address = std::string(envelope_address);
        d.reason = "not a deliverable address with a domain";
        return d;
    }
    const auto domain_policy = policy.for_recipient(*address);
    const std::string full = address->full();
    if (!domain_policy || domain_policy->mode == Mode::Off) return classify_recipient(full, domain_policy, {});
    // Keys are looked up without the subaddress; the decision keeps the address the MTA gave.
    return classify_recipient(full, domain_policy, lookup(policy.lookup_address(*address).full(), now));
}

RewriteOptions rewrite_options(const Policy& policy, std::span<const RecipientDecision> recipients) {
    RewriteOptions options;
    options.header_protection = false;
    for (const auto& r : recipients) {
        if (r.cls != RecipientClass::Encrypt) continue;
        const auto address = parse_address(r.address);
        const auto domain_policy = address ? policy.for_recipient(*address) : std::nullopt;
        if (domain_policy && domain_policy->header_protection) options.header_protection = true;
    }
    options.strip_fields = policy.strip_fields_when_encrypted;
    return options;
}

ProcessResult process_message(const ProcessContext& context, const std::vector<HeaderField>& fields,
                              ByteSource& body_crlf, std::span<const RecipientDecision> recipients) {
    ProcessResult result;
    result.recipients.assign(recipients.begin(), recipients.end());
    result.decision = decide_message(recipients);
    if (result.decision.action != MessageDecision::Action::Encrypt) return result;
    try {
        const RewriteOptions options = rewrite_options(context.policy, recipients);
        result.encrypted = encrypt_message(fields, body_crlf, result.decision.keys, context.encryptor,
                                           context.spool, context.boundaries, options);
        result.header_protected = applies_header_protection(fields, options);
    } catch (const std::exception& e) {
        result.encrypted.reset();
        result.header_protected = false;
        result.decision.action = MessageDecision::Action::Tempfail;
        result.decision.reason = std::string("encryption failed: ") + e.what();
    }
    return result;
}

}  // namespace mdcrypt
