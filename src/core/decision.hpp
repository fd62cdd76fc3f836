// Pure decisions: what happens to a recipient, and to a message, given policy and key facts.
// No clock, no I/O: callers pass in what they looked up.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/keys.hpp"
#include "core/policy.hpp"

namespace mdcrypt {

enum class RecipientClass {
    Encrypt,  // local, mode not off, usable key
    Plain,    // not local, mode off, or opportunistic without a key
    Refuse,   // required without a usable key
    Defer,    // the key lookup failed: try again later, never downgrade
};

// The outcome of looking up a recipient's key.
struct KeyLookup {
    enum class Status { Found, NotFound, Error };
    Status status = Status::NotFound;
    std::optional<UsableKey> key;  // when Found
    std::string reason;            // when NotFound or Error
};

// Where a key is looked up: an address (no subaddress) at a time (seconds since the epoch). One
// source (a keyring, key files) and the whole configured chain have this same shape.
using KeyLookupFn = std::function<KeyLookup(std::string_view address, std::int64_t now)>;

struct RecipientDecision {
    std::string address;
    bool local = false;
    Mode mode = Mode::Off;
    RecipientClass cls = RecipientClass::Plain;
    std::optional<UsableKey> key;
    std::string reason;  // one line an administrator can act on
    // From the recipient's policy entry (defaults when not local).
    bool header_protection = false;
    Split split = Split::PerClass;
    Refusal refusal = Refusal::Permanent;
};

// `domain_policy` is nullopt when the recipient's domain is not local.
RecipientDecision classify_recipient(const std::string& address, const std::optional<DomainPolicy>& domain_policy,
                                     const KeyLookup& lookup);

struct MessageDecision {
    enum class Action {
        Encrypt,   // encrypt to `keys`
        Pass,      // deliver unchanged
        Defer,     // 4xx: the sender keeps the message and retries
        Reject,    // 5xx: the sender bounces it
    };
    Action action = Action::Pass;
    std::vector<std::string> fingerprints;  // for logs: the keys' fingerprints
    std::vector<EncryptionKey> keys;        // what to encrypt to: the same keys, in the same order
    std::string reason;
    bool mixed = false;  // Defer because the recipients need different copies (never one body)
    bool already_encrypted = false;  // Pass because the body is already ciphertext
    bool encryption_failed = false;  // Defer because the encryption failed
};

// One body serves every recipient of a message, so it is encrypted only when every recipient can
// read the ciphertext, and passed only when no recipient requires encryption. In order:
//   a Defer recipient                      -> Defer (the key lookup failed)
//   a Refuse recipient                     -> Reject, or Defer when its refusal is temporary
//   no Encrypt recipient                   -> Pass
//   Encrypt and Plain recipients together  -> Defer: no single form is safe for both
//   Encrypt recipients with different keys
//     where one has split = per-recipient  -> Defer: it must not share a copy
//   otherwise                              -> Encrypt to every distinct key, in recipient order
// The milter avoids the two mixes at RCPT time (recipient_admission.hpp); this is the safety net
// for front ends that cannot defer a recipient.
MessageDecision decide_message(std::span<const RecipientDecision> recipients);

// An already encrypted message holds no plaintext, so it is delivered as it is to every recipient:
// the ones we would encrypt for, plain ones, and those without a key where encryption is required
// (the mailbox still gets only ciphertext). Not when a key lookup failed: that stays a deferral,
// whatever the message. A message passed anyway needs no inspection.
bool passes_when_already_encrypted(const MessageDecision& decision, std::span<const RecipientDecision> recipients);

}  // namespace mdcrypt
