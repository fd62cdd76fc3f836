#include "milter/recipient_step.hpp"

#include <algorithm>

#include "core/metrics.hpp"
#include "milter/end_of_message.hpp"
#include "milter/logging.hpp"

namespace mdcrypt::milter {

RcptOutcome check_recipient(const RcptContext& context, MessageState& message, std::string_view envelope_recipient,
                            std::optional<std::string_view> rcpt_mailer) {
    const auto& mailers = context.config.milter.local_mailers;
    const bool local_by_mailer =
        rcpt_mailer && std::find(mailers.begin(), mailers.end(), *rcpt_mailer) != mailers.end();
    RcptOutcome out;
    out.can_defer = rcpt_mailer.has_value();
    if (!out.can_defer) message.note_not_deferrable();
    out.decision = classify_envelope_recipient(context.config.policy, envelope_recipient, context.lookup, context.now,
                                               local_by_mailer);
    out.admission = admit_recipient(message.admitted(), out.decision, out.can_defer);
    if (out.admission.reply) out.admission.reply->text = smtp_reply_text(out.admission.reply->text);
    if (out.admission.verdict == Admission::Verdict::Accept) message.admit(envelope_recipient, out.decision, local_by_mailer);
    metrics().recipient_admitted(out.decision.cls, out.admission.verdict);
    return out;
}

std::string format_rcpt_line(std::string_view queue_id, const RcptOutcome& outcome) {
    return format_recipient_line(queue_id, outcome.decision, &outcome.admission, outcome.can_defer);
}

}  // namespace mdcrypt::milter
