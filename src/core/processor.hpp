// One message, start to finish, for every front end (milter, pipe filter): classify the recipients,
// decide, and encrypt when the decision says so. Key lookup and encryption are injected, so this is
// tested with fakes and used with GPGME.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/config.hpp"
#include "core/decision.hpp"
#include "core/encryptor.hpp"
#include "core/header.hpp"
#include "core/pgp_mime.hpp"
#include "core/protection_detect.hpp"
#include "core/spool.hpp"

namespace mdcrypt {

// Policy and key facts for one envelope recipient as the MTA gave it ("<alice@example.org>").
// The policy entry is Policy::for_recipient's, or [default] when the MTA's mailer for the recipient
// makes it local (`local_by_mailer`, milter.local_mailers); `lookup` gets Policy::lookup_address (no
// subaddress), while the decision keeps the address as given.
RecipientDecision classify_envelope_recipient(const Policy& policy, std::string_view envelope_address,
                                              const KeyLookupFn& lookup, std::int64_t now,
                                              bool local_by_mailer = false);

struct ProcessResult {
    std::vector<RecipientDecision> recipients;
    MessageDecision decision;
    std::optional<EncryptedMessage> encrypted;  // set exactly when decision.action == Encrypt
    std::optional<Protection> protection;       // set when the body was inspected for existing encryption
    bool header_protected = false;              // encrypted with RFC 9788 header protection
};

// How to rewrite a message encrypted for these recipients: header protection when the policy of any
// encrypt-class recipient has it on (confidentiality of the Subject wins over how a client without
// RFC 9788 support shows it), and the policy's strip_fields_when_encrypted.
RewriteOptions rewrite_options(const Policy& policy, std::span<const RecipientDecision> recipients);

// Makes `decision` a Pass for a message that is already encrypted (`kind`), reason "already encrypted:
// <kind>". Nothing is encrypted, so no key may reach what comes after (the log, an encryptor).
void pass_as_already_encrypted(MessageDecision& decision, ProtectionKind kind);

struct ProcessContext {
    const Policy& policy;
    const KeyLookupFn& lookup;
    Encryptor& encryptor;
    const SpoolSettings& spool;
    const BoundaryGenerator& boundaries;
    std::int64_t now;
};

// Never fails open: an encryption or spool error turns an Encrypt decision into Defer with the
// reason, and no edits are returned.
// A message that is already encrypted (detect_protection) is passed unchanged, reason "already
// encrypted: <kind>", unless a recipient's key lookup failed; an error while inspecting it means "not
// protected". Only the first kMaxInspectedBodyBytes of the body are read ahead for that.
ProcessResult process_message(const ProcessContext& context, const std::vector<HeaderField>& fields,
                              ByteSource& body_crlf, std::span<const RecipientDecision> recipients);

}  // namespace mdcrypt
