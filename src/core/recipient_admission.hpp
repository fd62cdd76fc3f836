// RCPT-time decisions: which recipients may join the transaction in progress.
//
// One SMTP transaction carries one body for all its recipients, and the milter can only replace that
// body, so recipients who need different copies must arrive in different transactions. The first
// accepted recipient fixes the transaction's class (encrypt or plain); a later recipient of the other
// class is answered 452 4.5.3 (RFC 5321 4.5.3.1.10, too many recipients), which a sending MTA
// delivers in a later transaction of its own. With split = per-recipient (the recipient's policy), an
// encrypt-class recipient shares its transaction only with recipients of the same key.
//
// `can_defer` is false where the MTA cannot take a per-recipient refusal: Postfix's non_smtpd_milters
// (sendmail(1), qmqpd), which report a configuration error and keep the mail when a simulated RCPT is
// refused. There every recipient is accepted and decide_message settles the whole message at end of
// message (a mix is tempfailed, a refusal bounces it).
#pragma once

#include <optional>
#include <span>

#include "core/decision.hpp"
#include "core/smtp_reply.hpp"

namespace mdcrypt {

struct Admission {
    enum class Verdict {
        Accept,    // the recipient joins the transaction
        Refuse,    // `required` without a usable key: 550 5.7.1, or 450 4.7.1 (policy refusal = temporary)
        Defer,     // its key lookup failed: 451 4.7.0
        Separate,  // it needs another copy than the transaction's: 452 4.5.3
    };
    Verdict verdict = Verdict::Accept;
    std::optional<SmtpReply> reply;  // set unless Accept
};

// The transaction's class so far: the class of its first accepted Encrypt or Plain recipient, if any.
std::optional<RecipientClass> transaction_class(std::span<const RecipientDecision> accepted);

// Whether `candidate` may join a transaction that already accepted `accepted` (in order).
Admission admit_recipient(std::span<const RecipientDecision> accepted, const RecipientDecision& candidate,
                          bool can_defer);

}  // namespace mdcrypt
