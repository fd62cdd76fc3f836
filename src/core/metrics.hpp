// What the milter counts for monitoring: one process-wide set of lock-free counters, bumped where the
// outcome is decided (the same places that log it), read by the metrics endpoint at each scrape
// (milter/metrics_exposition.hpp). Counting costs an atomic add; nothing here allocates.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "core/decision.hpp"
#include "core/recipient_admission.hpp"

namespace mdcrypt {

// What happened to a message, as the MTA was told.
enum class MessageOutcome { Encrypted, PassedPlain, PassedAlreadyEncrypted, Tempfailed, Rejected };
inline constexpr std::size_t kMessageOutcomes = 5;
std::string_view to_string(MessageOutcome outcome);

// Why a message was tempfailed.
enum class TempfailCause {
    KeyLookup,   // a recipient's key lookup failed
    Refusal,     // a temporary policy refusal (refusal = "temporary")
    Mixed,       // recipients need different copies and the MTA sent them together
    Encryption,  // gpg failed, timed out or was stopped
    TooLarge,    // over max_message_size with a recipient to encrypt for
    WriteBack,   // the MTA refused the replaced body or header edits
    Other,
};
inline constexpr std::size_t kTempfailCauses = 7;
std::string_view to_string(TempfailCause cause);

// Which gpg run failed.
enum class GpgRun { Encrypt, ListKeyring, ListKeyFile };
inline constexpr std::size_t kGpgRuns = 3;
std::string_view to_string(GpgRun run);

inline constexpr std::size_t kKeySources = 5;  // keyring, file, wkd, ldap, other
std::string_view key_source_label(std::size_t index);

// Cumulative buckets in the Prometheus sense: counts[i] = observations <= bounds[i]; the last is +Inf.
template <std::size_t N>
struct HistogramValues {
    std::array<double, N> bounds{};
    std::array<std::uint64_t, N + 1> counts{};  // not cumulative; the exposition sums them
    double sum = 0;
};

inline constexpr std::array<double, 10> kEncryptionSecondsBounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
inline constexpr std::array<double, 8> kSlotWaitSecondsBounds{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5};

struct MetricsSnapshot {
    std::array<std::uint64_t, kMessageOutcomes> messages{};
    std::array<std::uint64_t, kTempfailCauses> tempfails{};
    // [RecipientClass][Admission::Verdict], at RCPT
    std::array<std::array<std::uint64_t, 4>, 4> recipients{};
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    HistogramValues<kEncryptionSecondsBounds.size()> encryption_seconds{kEncryptionSecondsBounds};
    HistogramValues<kSlotWaitSecondsBounds.size()> slot_wait_seconds{kSlotWaitSecondsBounds};
    std::array<std::array<std::uint64_t, 3>, kKeySources> key_lookups{};  // [source][found, not_found, error]
    std::array<std::uint64_t, 2> keyring_listings{};                     // [ok, failed]
    std::array<std::array<std::uint64_t, 3>, kGpgRuns> gpg_failures{};   // [run][failed, timeout, stopped]
};

class Metrics {
public:
    void message(MessageOutcome outcome, std::uint64_t bytes_in, std::uint64_t bytes_out) noexcept;
    void tempfail(TempfailCause cause) noexcept;
    void recipient_admitted(RecipientClass cls, Admission::Verdict verdict) noexcept;
    void encryption_time(double seconds) noexcept;
    void slot_wait(double seconds) noexcept;
    void key_lookup(std::string_view source, KeyLookup::Status status) noexcept;
    void keyring_listing(bool ok) noexcept;
    enum class GpgFailure { Failed, Timeout, Stopped };
    void gpg_failure(GpgRun run, GpgFailure failure) noexcept;

    MetricsSnapshot snapshot() const noexcept;

private:
    template <std::size_t N>
    struct Histogram {
        std::array<std::atomic<std::uint64_t>, N + 1> counts{};
        std::atomic<std::uint64_t> sum_micros{0};
    };

    std::array<std::atomic<std::uint64_t>, kMessageOutcomes> messages_{};
    std::array<std::atomic<std::uint64_t>, kTempfailCauses> tempfails_{};
    std::array<std::array<std::atomic<std::uint64_t>, 4>, 4> recipients_{};
    std::atomic<std::uint64_t> bytes_in_{0};
    std::atomic<std::uint64_t> bytes_out_{0};
    Histogram<kEncryptionSecondsBounds.size()> encryption_{};
    Histogram<kSlotWaitSecondsBounds.size()> slot_wait_{};
    std::array<std::array<std::atomic<std::uint64_t>, 3>, kKeySources> key_lookups_{};
    std::array<std::atomic<std::uint64_t>, 2> keyring_listings_{};
    std::array<std::array<std::atomic<std::uint64_t>, 3>, kGpgRuns> gpg_failures_{};
};

// The process's counters.
Metrics& metrics();

// What a message's final verdict means for the counters.
MessageOutcome message_outcome(MessageDecision::Action verdict, const MessageDecision& decision);

// Which cause a Tempfailed message has, from its decision: a pure function (tested as a table).
TempfailCause tempfail_cause(const MessageDecision& decision, std::span<const RecipientDecision> recipients,
                             bool too_large, bool write_back_failed);

}  // namespace mdcrypt
