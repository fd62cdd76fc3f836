#include "core/processor.hpp"

#include <algorithm>
#include <array>
#include <exception>
#include <stdexcept>

#include "core/address.hpp"

namespace mdcrypt {

namespace {

// The body source with its first bytes read ahead for detection and given back, in front of the
// rest, to whoever reads it next. A read error while peeking is kept and thrown by read(), so the
// encryption fails on it (Defer) rather than encrypting a body with a hole in it.
class PeekedBody final : public ByteSource {
public:
    explicit PeekedBody(ByteSource& source) : source_(source) {}

    // The first `limit` bytes, or fewer when the body is shorter. Called at most once.
    std::string_view peek(std::size_t limit) {
        try {
            std::array<char, 16 * 1024> chunk{};
            while (head_.size() < limit) {
                const std::size_t n = source_.read(std::span<char>(chunk.data(), std::min(chunk.size(), limit - head_.size())));
                if (n == 0) break;
                head_.append(chunk.data(), n);
            }
        } catch (const std::exception& e) {
            error_ = e.what();
            throw;
        }
        return head_;
    }

    std::size_t read(std::span<char> out) override {
        if (!error_.empty()) throw std::runtime_error("reading the message body: " + error_);
        if (pos_ < head_.size()) {
            const std::size_t n = std::min(out.size(), head_.size() - pos_);
            std::copy_n(head_.data() + pos_, n, out.data());
            pos_ += n;
            return n;
        }
        return source_.read(out);
    }

private:
    ByteSource& source_;
    std::string head_;
    std::size_t pos_ = 0;
    std::string error_;
};

// Never throws: whatever goes wrong, the answer is "not protected", i.e. encrypt.
Protection inspect(const std::vector<HeaderField>& fields, PeekedBody& body) {
    try {
        const std::string_view head = body.peek(kMaxInspectedBodyBytes + 1);
        return detect_protection(fields, head, head.size() <= kMaxInspectedBodyBytes);
    } catch (const std::exception& e) {
        return {ProtectionKind::None, std::string("not inspected: ") + e.what()};
    }
}

}  // namespace

RecipientDecision classify_envelope_recipient(const Policy& policy, std::string_view envelope_address,
                                              const KeyLookupFn& lookup, std::int64_t now, bool local_by_mailer) {
    const auto address = parse_address(envelope_address);
    if (!address) {
        RecipientDecision d;
        d.address = std::string(envelope_address);
        d.reason = "not a deliverable address with a domain";
        return d;
    }
    auto domain_policy = policy.for_recipient(*address);
    if (!domain_policy && local_by_mailer) domain_policy = policy.defaults;
    const std::string full = address->full();
    if (!domain_policy || domain_policy->mode == Mode::Off) return classify_recipient(full, domain_policy, {});
    // Keys are looked up without the subaddress; the decision keeps the address the MTA gave.
    return classify_recipient(full, domain_policy, lookup(policy.lookup_address(*address).full(), now));
}

RewriteOptions rewrite_options(const Policy& policy, std::span<const RecipientDecision> recipients) {
    RewriteOptions options;
    options.header_protection = false;
    for (const auto& r : recipients)
        if (r.cls == RecipientClass::Encrypt && r.header_protection) options.header_protection = true;
    options.strip_fields = policy.strip_fields_when_encrypted;
    return options;
}

void pass_as_already_encrypted(MessageDecision& decision, ProtectionKind kind) {
    decision.action = MessageDecision::Action::Pass;
    decision.fingerprints.clear();
    decision.keys.clear();
    decision.reason = "already encrypted: " + std::string(to_string(kind));
    decision.already_encrypted = true;
}

ProcessResult process_message(const ProcessContext& context, const std::vector<HeaderField>& fields,
                              ByteSource& body, std::span<const RecipientDecision> recipients) {
    ProcessResult result;
    result.recipients.assign(recipients.begin(), recipients.end());
    result.decision = decide_message(recipients);
    PeekedBody body_crlf(body);
    if (passes_when_already_encrypted(result.decision, recipients)) {
        result.protection = inspect(fields, body_crlf);
        if (result.protection->is_protected()) {
            pass_as_already_encrypted(result.decision, result.protection->kind);
            return result;
        }
    }
    if (result.decision.action != MessageDecision::Action::Encrypt) return result;
    try {
        const RewriteOptions options = rewrite_options(context.policy, recipients);
        result.encrypted = encrypt_message(fields, body_crlf, result.decision.keys, context.encryptor,
                                           context.spool, context.boundaries, options);
        result.header_protected = applies_header_protection(fields, options);
    } catch (const std::exception& e) {
        result.encrypted.reset();
        result.header_protected = false;
        result.decision.action = MessageDecision::Action::Defer;
        result.decision.reason = std::string("encryption failed: ") + e.what();
        result.decision.encryption_failed = true;
    }
    return result;
}

}  // namespace mdcrypt
