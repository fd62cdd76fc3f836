#include "core/keys.hpp"

#include "core/header.hpp"
#include "core/text.hpp"

namespace mdcrypt {

namespace {

bool expired(std::int64_t expires, std::int64_t now) { return expires != 0 && expires <= now; }

}  // namespace

bool same_address(std::string_view a, std::string_view b) { return iequals(a, b); }

KeyAssessment assess_key(const KeyFacts& key, std::string_view address, std::int64_t now) {
    const std::string who = "key " + key.fingerprint;
    if (key.revoked) return {std::nullopt, who + " is revoked"};
    if (key.disabled) return {std::nullopt, who + " is disabled"};
    if (key.invalid) return {std::nullopt, who + " is invalid"};
    if (expired(key.expires, now)) return {std::nullopt, who + " has expired"};

    bool uid_found = false;
    for (const auto& uid : key.user_ids)
        if (!uid.revoked && !uid.invalid && same_address(uid.address, address)) uid_found = true;
    if (!uid_found) return {std::nullopt, who + " has no valid user ID for " + std::string(address)};

    std::optional<UsableKey> best;
    bool any_encryption_subkey = false;
    for (const auto& sub : key.subkeys) {
        if (!sub.can_encrypt) continue;
        any_encryption_subkey = true;
        if (sub.revoked || sub.disabled || sub.invalid || expired(sub.expires, now)) continue;
        std::int64_t effective = sub.expires;
        if (key.expires != 0 && (effective == 0 || key.expires < effective)) effective = key.expires;
        if (!best || (best->expires != 0 && (effective == 0 || effective > best->expires)))
            best = UsableKey{key.fingerprint, effective, key.source, key.key_block};
    }
    if (!best)
        return {std::nullopt, who + (any_encryption_subkey ? " has no valid unexpired encryption subkey"
                                                          : " has no encryption-capable subkey")};
    return {best, {}};
}

KeyAssessment choose_key(const std::vector<KeyFacts>& candidates, std::string_view address, std::int64_t now) {
    KeyAssessment chosen;
    std::string reasons;
    for (const auto& candidate : candidates) {
        KeyAssessment a = assess_key(candidate, address, now);
        if (!a.key) {
            if (!reasons.empty()) reasons += "; ";
            reasons += a.reason;
            continue;
        }
        if (!chosen.key || (chosen.key->expires != 0 && (a.key->expires == 0 || a.key->expires > chosen.key->expires)))
            chosen.key = a.key;
    }
    if (!chosen.key) chosen.reason = candidates.empty() ? "no key for " + std::string(address) : reasons;
    return chosen;
}

}  // namespace mdcrypt
