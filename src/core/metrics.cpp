#include "core/metrics.hpp"

#include <algorithm>
#include <cmath>

namespace mdcrypt {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

template <typename T>
std::uint64_t load(const std::atomic<T>& a) {
    return a.load(kRelaxed);
}

template <std::size_t N, typename H>
void observe(H& histogram, const std::array<double, N>& bounds, double seconds) {
    if (!(seconds >= 0)) seconds = 0;  // NaN or a clock step back
    const auto it = std::lower_bound(bounds.begin(), bounds.end(), seconds);
    histogram.counts[static_cast<std::size_t>(it - bounds.begin())].fetch_add(1, kRelaxed);
    histogram.sum_micros.fetch_add(static_cast<std::uint64_t>(std::llround(seconds * 1e6)), kRelaxed);
}

template <std::size_t N, typename H>
void copy(const H& from, HistogramValues<N>& to) {
    for (std::size_t i = 0; i < to.counts.size(); ++i) to.counts[i] = load(from.counts[i]);
    to.sum = static_cast<double>(load(from.sum_micros)) / 1e6;
}

std::size_t key_source_index(std::string_view source) {
    if (source == "keyring") return 0;
    if (source == "file") return 1;
    if (source == "wkd") return 2;
    if (source == "ldap") return 3;
    return 4;
}

}  // namespace

std::string_view to_string(MessageOutcome outcome) {
    switch (outcome) {
        case MessageOutcome::Encrypted: return "encrypted";
        case MessageOutcome::PassedPlain: return "passed_plain";
        case MessageOutcome::PassedAlreadyEncrypted: return "passed_already_encrypted";
        case MessageOutcome::Tempfailed: return "tempfailed";
        case MessageOutcome::Rejected: return "rejected";
    }
    return "unknown";
}

std::string_view to_string(TempfailCause cause) {
    switch (cause) {
        case TempfailCause::KeyLookup: return "key_lookup";
        case TempfailCause::Refusal: return "refusal";
        case TempfailCause::Mixed: return "mixed_recipients";
        case TempfailCause::Encryption: return "encryption";
        case TempfailCause::TooLarge: return "too_large";
        case TempfailCause::WriteBack: return "write_back";
        case TempfailCause::Other: return "other";
    }
    return "other";
}

std::string_view to_string(GpgRun run) {
    switch (run) {
        case GpgRun::Encrypt: return "encrypt";
        case GpgRun::ListKeyring: return "list_keyring";
        case GpgRun::ListKeyFile: return "list_key_file";
    }
    return "unknown";
}

std::string_view key_source_label(std::size_t index) {
    static constexpr std::array<std::string_view, kKeySources> labels{"keyring", "file", "wkd", "ldap", "other"};
    return index < labels.size() ? labels[index] : "other";
}

void Metrics::message(MessageOutcome outcome, std::uint64_t bytes_in, std::uint64_t bytes_out) noexcept {
    messages_[static_cast<std::size_t>(outcome)].fetch_add(1, kRelaxed);
    bytes_in_.fetch_add(bytes_in, kRelaxed);
    bytes_out_.fetch_add(bytes_out, kRelaxed);
}

void Metrics::tempfail(TempfailCause cause) noexcept { tempfails_[static_cast<std::size_t>(cause)].fetch_add(1, kRelaxed); }

void Metrics::recipient_admitted(RecipientClass cls, Admission::Verdict verdict) noexcept {
    recipients_[static_cast<std::size_t>(cls)][static_cast<std::size_t>(verdict)].fetch_add(1, kRelaxed);
}

void Metrics::encryption_time(double seconds) noexcept { observe(encryption_, kEncryptionSecondsBounds, seconds); }

void Metrics::slot_wait(double seconds) noexcept { observe(slot_wait_, kSlotWaitSecondsBounds, seconds); }

void Metrics::key_lookup(std::string_view source, KeyLookup::Status status) noexcept {
    key_lookups_[key_source_index(source)][static_cast<std::size_t>(status)].fetch_add(1, kRelaxed);
}

void Metrics::keyring_listing(bool ok) noexcept { keyring_listings_[ok ? 0 : 1].fetch_add(1, kRelaxed); }

void Metrics::gpg_failure(GpgRun run, GpgFailure failure) noexcept {
    gpg_failures_[static_cast<std::size_t>(run)][static_cast<std::size_t>(failure)].fetch_add(1, kRelaxed);
}

MetricsSnapshot Metrics::snapshot() const noexcept {
    MetricsSnapshot s;
    for (std::size_t i = 0; i < s.messages.size(); ++i) s.messages[i] = load(messages_[i]);
    for (std::size_t i = 0; i < s.tempfails.size(); ++i) s.tempfails[i] = load(tempfails_[i]);
    for (std::size_t c = 0; c < 4; ++c)
        for (std::size_t a = 0; a < 4; ++a) s.recipients[c][a] = load(recipients_[c][a]);
    s.bytes_in = load(bytes_in_);
    s.bytes_out = load(bytes_out_);
    copy(encryption_, s.encryption_seconds);
    copy(slot_wait_, s.slot_wait_seconds);
    for (std::size_t i = 0; i < kKeySources; ++i)
        for (std::size_t j = 0; j < 3; ++j) s.key_lookups[i][j] = load(key_lookups_[i][j]);
    for (std::size_t i = 0; i < 2; ++i) s.keyring_listings[i] = load(keyring_listings_[i]);
    for (std::size_t i = 0; i < kGpgRuns; ++i)
        for (std::size_t j = 0; j < 3; ++j) s.gpg_failures[i][j] = load(gpg_failures_[i][j]);
    return s;
}

Metrics& metrics() {
    static Metrics instance;
    return instance;
}

MessageOutcome message_outcome(MessageDecision::Action verdict, const MessageDecision& decision) {
    switch (verdict) {
        case MessageDecision::Action::Encrypt: return MessageOutcome::Encrypted;
        case MessageDecision::Action::Pass:
            return decision.already_encrypted ? MessageOutcome::PassedAlreadyEncrypted : MessageOutcome::PassedPlain;
        case MessageDecision::Action::Defer: return MessageOutcome::Tempfailed;
        case MessageDecision::Action::Reject: return MessageOutcome::Rejected;
    }
    return MessageOutcome::Tempfailed;
}

TempfailCause tempfail_cause(const MessageDecision& decision, std::span<const RecipientDecision> recipients,
                             bool too_large, bool write_back_failed) {
    if (write_back_failed) return TempfailCause::WriteBack;
    if (decision.encryption_failed) return TempfailCause::Encryption;
    const auto has = [&](RecipientClass cls) {
        return std::any_of(recipients.begin(), recipients.end(), [&](const auto& r) { return r.cls == cls; });
    };
    if (has(RecipientClass::Defer)) return TempfailCause::KeyLookup;
    if (has(RecipientClass::Refuse)) return TempfailCause::Refusal;
    if (decision.mixed) return TempfailCause::Mixed;
    if (too_large) return TempfailCause::TooLarge;
    return TempfailCause::Other;
}

}  // namespace mdcrypt
