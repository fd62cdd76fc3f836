// RCPT TO without libmilter: classify the recipient, decide whether it joins the transaction
// (core/recipient_admission.hpp) and record it in the message when it does. The callback layer only
// sends the reply.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/processor.hpp"
#include "core/recipient_admission.hpp"
#include "milter/message_state.hpp"

namespace mdcrypt::milter {

struct RcptContext {
    const Config& config;
    const KeyLookupFn& lookup;
    std::int64_t now;
};

struct RcptOutcome {
    RecipientDecision decision;
    Admission admission;  // reply text already made safe with smtp_reply_text
    bool can_defer = false;
};

// `rcpt_mailer`: the MTA's {rcpt_mailer} macro for this recipient, nullopt when the MTA gave none.
// Postfix gives it only to smtpd_milters, Sendmail always: its absence marks a submission that cannot
// take a per-recipient refusal (recipient_admission.hpp), so every recipient is accepted there and
// end of message decides. A mailer listed in milter.local_mailers makes the recipient local.
RcptOutcome check_recipient(const RcptContext& context, MessageState& message, std::string_view envelope_recipient,
                            std::optional<std::string_view> rcpt_mailer);

// The log line for a recipient that was not accepted (or every recipient, verbose).
std::string format_rcpt_line(std::string_view queue_id, const RcptOutcome& outcome);

}  // namespace mdcrypt::milter
