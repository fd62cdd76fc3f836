#include "core/explain.hpp"

#include <ctime>

#include "core/address.hpp"
#include "core/log_line.hpp"
#include "core/processor.hpp"

namespace mdcrypt {

namespace {

std::string describe_answer(const SourceAnswer& answer) {
    const KeyLookup& lookup = answer.lookup;
    switch (lookup.status) {
        case KeyLookup::Status::Found:
            if (!lookup.key) return "a key without details";
            return "key " + lookup.key->fingerprint + ", expires " + format_expiry(lookup.key->expires) + ", from " +
                   lookup.key->source;
        case KeyLookup::Status::NotFound: return "no usable key: " + lookup.reason;
        case KeyLookup::Status::Error: return "FAILED: " + lookup.reason;
    }
    return "?";
}

}  // namespace

std::string format_expiry(std::int64_t expires) {
    if (expires == 0) return "never";
    const auto t = static_cast<std::time_t>(expires);
    std::tm tm{};
    if (!::gmtime_r(&t, &tm)) return std::to_string(expires);
    char text[32];
    if (std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) return std::to_string(expires);
    return text;
}

Explanation explain_recipient(const Policy& policy, std::string_view address, const KeyTraceFn& trace, std::int64_t now) {
    Explanation out;
    std::string& text = out.text;
    text += std::string(address) + "\n";
    const auto parsed = parse_address(address);
    std::optional<KeyTrace> traced;
    const KeyLookupFn lookup = [&](std::string_view lookup_address, std::int64_t at) {
        traced = trace(lookup_address, at);
        return traced->result;
    };
    out.decision = classify_envelope_recipient(policy, address, lookup, now);
    if (!parsed) {
        text += "  local: no (not an address with a domain)\n";
    } else if (const auto entry = policy.entry_for(*parsed); !entry) {
        text += "  local: no (neither " + parsed->domain + " nor the address is listed in the policy file)\n";
    } else {
        const Address key_address = policy.lookup_address(*parsed);
        text += "  local: yes, by " + entry->entry + "\n";
        text += "  mode: " + std::string(to_string(entry->policy.mode)) + " (set by " +
                (entry->policy.mode_from.empty() ? std::string("the built-in default") : entry->policy.mode_from) + ")\n";
        text += "  split: " + std::string(to_string(entry->policy.split)) +
                (entry->policy.split == Split::PerRecipient ? " (a transaction and copy of its own)"
                                                            : " (shares a copy with other encrypted recipients)") +
                ", refusal: " + std::string(to_string(entry->policy.refusal)) +
                (entry->policy.refusal == Refusal::Permanent ? " (550 5.7.1)" : " (450 4.7.1)") + "\n";
        text += "  keys for: " + key_address.full() +
                (key_address.local != parsed->local ? " (subaddress removed)" : std::string()) + "\n";
        if (!traced) {
            text += "  key sources: not consulted (mode off)\n";
        } else {
            for (std::size_t i = 0; i < traced->answers.size(); ++i) {
                const auto& answer = traced->answers[i];
                std::string note;
                if (i == traced->used) note = answer.lookup.status == KeyLookup::Status::Found ? " [used]" : " [decides]";
                else if (i > traced->used) note = " [not asked when mail arrives: an earlier source decided]";
                text += "  source " + std::to_string(i + 1) + " " + answer.source + ": " + describe_answer(answer) + note + "\n";
            }
            if (traced->answers.empty()) text += "  key sources: none configured\n";
        }
    }
    text += "  class: " + std::string(log_word(out.decision.cls)) + " (" + out.decision.reason + ")\n";
    return out;
}

}  // namespace mdcrypt
