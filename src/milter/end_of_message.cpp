#include "milter/end_of_message.hpp"

#include <algorithm>

#include "core/metrics.hpp"
#include "core/protection_detect.hpp"

namespace mdcrypt::milter {

namespace {

constexpr std::size_t kMaxReplyText = 200;

using Action = MessageDecision::Action;

const RecipientDecision* first_of(const std::vector<RecipientDecision>& recipients, RecipientClass cls) {
    const auto it = std::find_if(recipients.begin(), recipients.end(), [cls](const auto& r) { return r.cls == cls; });
    return it == recipients.end() ? nullptr : &*it;
}

SmtpReply reply(const char* rcode, const char* xcode, std::string_view text) {
    return {rcode, xcode, smtp_reply_text(text)};
}

}  // namespace

std::string smtp_reply_text(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (out.size() >= kMaxReplyText) break;
        const auto u = static_cast<unsigned char>(c);
        if (c == '%') out += "%%";
        else if (u < 0x20 || u >= 0x7f) out.push_back(' ');
        else out.push_back(c);
    }
    return out;
}

EomOutcome outcome_for(std::vector<RecipientDecision> recipients, MessageDecision decision, bool too_large) {
    EomOutcome out;
    out.too_large = too_large;
    out.log_reason = decision.reason;
    switch (decision.action) {
        case Action::Pass:
            out.verdict = Action::Pass;
            break;
        case Action::Encrypt:
            if (too_large) {
                out.verdict = Action::Defer;
                out.reply = reply("452", "4.3.4", "message too large to encrypt");
                out.log_reason = "message too large to encrypt";
            } else {
                out.verdict = Action::Encrypt;
            }
            break;
        case Action::Reject: {
            out.verdict = Action::Reject;
            const auto* refused = first_of(recipients, RecipientClass::Refuse);
            out.reply = reply("550", "5.7.1",
                              (refused ? refused->address + ": " : std::string()) +
                                  "encryption is required but no usable OpenPGP key is known");
            break;
        }
        case Action::Defer: {
            out.verdict = Action::Defer;
            // Replies name the cause but never engine output, paths or content: those go to the log.
            if (const auto* deferred = first_of(recipients, RecipientClass::Defer))
                out.reply = reply("451", "4.7.0", deferred->address + ": key lookup failed, try again later");
            else if (const auto* refused = first_of(recipients, RecipientClass::Refuse))  // refusal = temporary
                out.reply = reply("450", "4.7.1",
                                  refused->address + ": encryption is required but no usable OpenPGP key is known yet");
            else if (!decision.fingerprints.empty())  // decided Encrypt, then the encryption failed
                out.reply = reply("451", "4.3.0", "encryption failed, try again later");
            else if (recipients.empty())
                out.reply = reply("451", "4.5.3", "no recipients");
            else
                out.reply = reply("451", "4.7.0",
                                  "recipients need different copies (encrypted and plain, or a copy of their own); "
                                  "send them in separate transactions");
            break;
        }
    }
    out.recipients = std::move(recipients);
    out.decision = std::move(decision);
    return out;
}

EomOutcome application_failed(EomOutcome outcome, std::string_view what) {
    outcome.verdict = Action::Defer;
    outcome.reply = reply("451", "4.3.0", "encryption failed, try again later");
    outcome.log_reason = "applying the encrypted message failed: " + std::string(what);
    outcome.write_back_failed = true;
    outcome.encrypted.reset();
    return outcome;
}

void count_message(const EomOutcome& outcome, std::uint64_t size_in, std::uint64_t body_bytes_out, double seconds) {
    const MessageOutcome counted = message_outcome(outcome.verdict, outcome.decision);
    metrics().message(counted, size_in, body_bytes_out);
    if (counted == MessageOutcome::Tempfailed)
        metrics().tempfail(tempfail_cause(outcome.decision, outcome.recipients, outcome.too_large, outcome.write_back_failed));
    if (counted == MessageOutcome::Encrypted) metrics().encryption_time(seconds);
}

MessageLogRecord log_record(const MessageState& message, const EomOutcome& outcome, std::uint64_t body_bytes_out,
                            long long milliseconds) {
    MessageLogRecord record;
    record.queue_id = message.queue_id();
    record.verdict = outcome.verdict;
    if (outcome.reply) record.reply = outcome.reply->rcode + " " + outcome.reply->xcode;
    record.recipients = message.recipients().size();
    if (outcome.verdict == Action::Encrypt) record.fingerprints = outcome.decision.fingerprints;
    record.size_in = message.bytes_received();
    record.size_out = body_bytes_out;
    record.milliseconds = milliseconds;
    record.too_large = outcome.too_large;
    record.reason = outcome.log_reason;
    return record;
}

EomOutcome finish_message(const EomContext& context, const MessageState& message) {
    if (message.failed()) {
        EomOutcome out;
        out.verdict = Action::Defer;
        out.reply = reply("451", "4.3.0", "temporary failure in the encryption milter, try again later");
        out.log_reason = "an earlier step failed: " + message.failure();
        out.decision.action = Action::Defer;
        out.decision.reason = out.log_reason;
        return out;
    }
    std::vector<RecipientDecision> recipients;
    recipients.reserve(message.recipients().size());
    // Classified again rather than taken from RCPT time: a key added or revoked since is honoured,
    // and a recipient whose class changed makes a mix that decide_message tempfails.
    for (std::size_t i = 0; i < message.recipients().size(); ++i)
        recipients.push_back(classify_envelope_recipient(context.config.policy, message.recipients()[i], context.lookup,
                                                         context.now, message.local_by_mailer(i)));

    if (message.too_large()) {
        auto decision = decide_message(recipients);
        // Too large to encrypt is not too large to pass: already encrypted mail goes through as it is.
        if (const auto prefix = message.body_prefix(); prefix && passes_when_already_encrypted(decision, recipients)) {
            const Protection protection =
                detect_protection(message.fields(), *prefix, prefix->size() <= kMaxInspectedBodyBytes);
            if (protection.is_protected()) pass_as_already_encrypted(decision, protection.kind);
        }
        auto out = outcome_for(std::move(recipients), std::move(decision), true);
        if (out.reply && out.reply->rcode == "452") out.log_reason += " (" + message.too_large_cause() + ")";
        return out;
    }

    const SpoolSettings spool{context.config.milter.spool_directory, context.config.milter.body_memory_limit};
    const ProcessContext process{context.config.policy, context.lookup, context.encryptor, spool, context.boundaries,
                                 context.now};
    const auto body = message.body();
    ProcessResult result = process_message(process, message.fields(), *body, recipients);
    auto out = outcome_for(std::move(result.recipients), std::move(result.decision), false);
    if (!message.deferrable() && out.decision.mixed)
        out.log_reason += " (this submission, without {rcpt_mailer}, cannot be split at RCPT time: it waits in the "
                          "MTA's queue until its recipients' classes agree; route local submissions through the "
                          "delivery-side placement, or remove it with postsuper -d)";
    if (out.verdict == Action::Encrypt) {
        if (!result.encrypted || !result.encrypted->body) {  // cannot happen per processor.hpp; never pass it
            out.verdict = Action::Defer;
            out.reply = reply("451", "4.3.0", "encryption failed, try again later");
            out.log_reason = "internal error: encrypt decision without an encrypted message";
        } else {
            out.encrypted = std::move(result.encrypted);
        }
    }
    return out;
}

}  // namespace mdcrypt::milter
