#include "core/recipient_admission.hpp"

#include <algorithm>

namespace mdcrypt {

namespace {

bool shares_copy_with(const RecipientDecision& a, const RecipientDecision& b) {
    if (a.split == Split::PerClass && b.split == Split::PerClass) return true;
    // The same key reads the same copy: alice and alice+lists need not be split.
    return a.key && b.key && a.key->fingerprint == b.key->fingerprint;
}

Admission answer(Admission::Verdict verdict, const char* rcode, const char* xcode, std::string text) {
    return {verdict, SmtpReply{rcode, xcode, std::move(text)}};
}

}  // namespace

std::optional<RecipientClass> transaction_class(std::span<const RecipientDecision> accepted) {
    for (const auto& r : accepted)
        if (r.cls == RecipientClass::Encrypt || r.cls == RecipientClass::Plain) return r.cls;
    return std::nullopt;
}

Admission admit_recipient(std::span<const RecipientDecision> accepted, const RecipientDecision& candidate,
                          bool can_defer) {
    using Verdict = Admission::Verdict;
    if (!can_defer) return {};
    const std::string& who = candidate.address;
    switch (candidate.cls) {
        case RecipientClass::Refuse:
            if (candidate.refusal == Refusal::Temporary)
                return answer(Verdict::Refuse, "450", "4.7.1",
                              "<" + who + ">: encryption is required but no usable OpenPGP key is known yet, try again later");
            return answer(Verdict::Refuse, "550", "5.7.1",
                          "<" + who + ">: encryption is required but no usable OpenPGP key is known");
        case RecipientClass::Defer:
            return answer(Verdict::Defer, "451", "4.7.0", "<" + who + ">: key lookup failed, try again later");
        case RecipientClass::Encrypt:
        case RecipientClass::Plain:
            break;
    }
    const auto fixed = transaction_class(accepted);
    if (fixed && *fixed != candidate.cls)
        return answer(Verdict::Separate, "452", "4.5.3",
                      "<" + who + ">: needs " + (candidate.cls == RecipientClass::Encrypt ? "an encrypted" : "a plain") +
                          " copy, unlike the recipients before it: send it in another transaction");
    if (candidate.cls == RecipientClass::Encrypt) {
        const bool alone = std::all_of(accepted.begin(), accepted.end(), [&](const RecipientDecision& r) {
            return r.cls != RecipientClass::Encrypt || shares_copy_with(r, candidate);
        });
        if (!alone)
            return answer(Verdict::Separate, "452", "4.5.3",
                          "<" + who + ">: gets an encrypted copy of its own: send it in another transaction");
    }
    return {};
}

}  // namespace mdcrypt
