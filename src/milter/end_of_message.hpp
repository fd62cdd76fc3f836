// End of message without libmilter: classify the envelope recipients, decide, encrypt when the
// decision says so, and say what the MTA must be told. The callback layer only applies the result.
//
// Never fails open: every path that cannot deliver ciphertext to a recipient who must get it ends
// in Defer (or Reject, for a `required` recipient without a key), never in Pass.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/decision.hpp"
#include "core/pgp_mime.hpp"
#include "core/processor.hpp"
#include "core/smtp_reply.hpp"
#include "milter/logging.hpp"
#include "milter/message_state.hpp"

namespace mdcrypt::milter {

struct EomOutcome {
    // Pass: deliver untouched. Encrypt: apply `encrypted` (header edits, new body), then accept.
    // Defer: 4xx with `reply`. Reject: 5xx with `reply`. Not always decision.action: a message decided
    // Encrypt that cannot be encrypted is deferred.
    MessageDecision::Action verdict = MessageDecision::Action::Defer;
    std::optional<SmtpReply> reply;  // text already made safe with smtp_reply_text
    std::vector<RecipientDecision> recipients;
    MessageDecision decision;
    std::optional<EncryptedMessage> encrypted;
    bool too_large = false;
    bool write_back_failed = false;  // the MTA refused the edits (application_failed)
    std::string log_reason;  // the full reason, for the log only
};

// Makes text safe as an SMTP reply through smfi_setreply: control characters become spaces, '%' is
// doubled (libmilter treats the text as a format), at most 200 characters.
std::string smtp_reply_text(std::string_view text);

// The pure part: given the recipients' decisions and the message decision (after any encryption
// attempt), what the MTA is told. `too_large`: the body was not kept (see message_state.hpp).
//
// max_message_size rule (and the header block's limit, kMaxHeaderBlockBytes): a message too large to keep is passed untouched when the decision is Pass
// (no recipient needs encryption), rejected or deferred for the same reasons as any other message,
// and deferred with 452 4.3.4 "message too large to encrypt" when it would have been encrypted.
EomOutcome outcome_for(std::vector<RecipientDecision> recipients, MessageDecision decision, bool too_large);

struct EomContext {
    const Config& config;
    const KeyLookupFn& lookup;
    Encryptor& encryptor;  // already throttled by the caller
    const BoundaryGenerator& boundaries;
    std::int64_t now;
};

// The whole end of message for one transaction. A message that failed earlier (MessageState::fail) is
// deferred with 451 4.3.0 whatever its recipients.
EomOutcome finish_message(const EomContext& context, const MessageState& message);

// The MTA refused part of the encrypted message (header change or new body): some changes may have
// reached it, and only a 4xx makes it drop them all.
EomOutcome application_failed(EomOutcome outcome, std::string_view what);

// The one log line for the message: decision, recipients, keys, sizes, time. `body_bytes_out`: what
// was sent back with smfi_replacebody (0 when untouched).
// Counts a finished message in metrics(): its outcome, a tempfail's cause, bytes, and for an
// encrypted one the time spent at end of message.
void count_message(const EomOutcome& outcome, std::uint64_t size_in, std::uint64_t body_bytes_out, double seconds);

MessageLogRecord log_record(const MessageState& message, const EomOutcome& outcome, std::uint64_t body_bytes_out,
                            long long milliseconds);

}  // namespace mdcrypt::milter
