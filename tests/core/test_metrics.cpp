// Metrics: which outcome and tempfail cause a message counts as (pure tables), and that counters and
// histogram buckets add up as a scrape shows them.
#include "core/metrics.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;
using Action = MessageDecision::Action;

namespace {

RecipientDecision recipient(RecipientClass cls) {
    RecipientDecision r;
    r.address = "a@example.test";
    r.cls = cls;
    return r;
}

}  // namespace

TEST_CASE("message_outcome: a pass of ciphertext is told from a plain pass") {
    MessageDecision plain, already;
    already.already_encrypted = true;
    CHECK(message_outcome(Action::Encrypt, plain) == MessageOutcome::Encrypted);
    CHECK(message_outcome(Action::Pass, plain) == MessageOutcome::PassedPlain);
    CHECK(message_outcome(Action::Pass, already) == MessageOutcome::PassedAlreadyEncrypted);
    CHECK(message_outcome(Action::Defer, plain) == MessageOutcome::Tempfailed);
    CHECK(message_outcome(Action::Reject, plain) == MessageOutcome::Rejected);
}

TEST_CASE("tempfail_cause: the first of write-back, encryption, key lookup, refusal, mix, size") {
    MessageDecision none, encryption, mixed;
    encryption.encryption_failed = true;
    mixed.mixed = true;
    const std::vector<RecipientDecision> encrypt{recipient(RecipientClass::Encrypt)};
    const std::vector<RecipientDecision> deferred{recipient(RecipientClass::Encrypt), recipient(RecipientClass::Defer)};
    const std::vector<RecipientDecision> refused{recipient(RecipientClass::Refuse)};
    CHECK(tempfail_cause(encryption, encrypt, false, true) == TempfailCause::WriteBack);
    CHECK(tempfail_cause(encryption, encrypt, false, false) == TempfailCause::Encryption);
    CHECK(tempfail_cause(none, deferred, false, false) == TempfailCause::KeyLookup);
    CHECK(tempfail_cause(none, refused, false, false) == TempfailCause::Refusal);
    CHECK(tempfail_cause(mixed, encrypt, false, false) == TempfailCause::Mixed);
    CHECK(tempfail_cause(none, encrypt, true, false) == TempfailCause::TooLarge);
    CHECK(tempfail_cause(none, encrypt, false, false) == TempfailCause::Other);
}

TEST_CASE("counters and histograms add up in a snapshot") {
    Metrics m;
    m.message(MessageOutcome::Encrypted, 100, 300);
    m.message(MessageOutcome::Encrypted, 50, 200);
    m.message(MessageOutcome::Tempfailed, 10, 0);
    m.tempfail(TempfailCause::Encryption);
    m.recipient_admitted(RecipientClass::Refuse, Admission::Verdict::Refuse);
    m.encryption_time(0.004);  // first bucket (<= 0.005)
    m.encryption_time(0.005);  // a value on a bound belongs to that bucket
    m.encryption_time(99);     // above every bound: +Inf
    m.key_lookup("file", KeyLookup::Status::NotFound);
    m.key_lookup("ldap", KeyLookup::Status::Error);
    m.key_lookup("x500", KeyLookup::Status::Error);  // an unknown source is "other"
    m.gpg_failure(GpgRun::Encrypt, Metrics::GpgFailure::Timeout);
    const MetricsSnapshot s = m.snapshot();
    CHECK(s.messages[static_cast<std::size_t>(MessageOutcome::Encrypted)] == 2);
    CHECK(s.messages[static_cast<std::size_t>(MessageOutcome::Tempfailed)] == 1);
    CHECK(s.tempfails[static_cast<std::size_t>(TempfailCause::Encryption)] == 1);
    CHECK(s.bytes_in == 160);
    CHECK(s.bytes_out == 500);
    CHECK(s.recipients[static_cast<std::size_t>(RecipientClass::Refuse)][static_cast<std::size_t>(Admission::Verdict::Refuse)] == 1);
    CHECK(s.encryption_seconds.counts[0] == 2);
    CHECK(s.encryption_seconds.counts.back() == 1);
    CHECK(s.encryption_seconds.sum == Approx(99.009));
    CHECK(s.key_lookups[1][1] == 1);
    CHECK(key_source_label(1) == "file");
    CHECK(s.key_lookups[3][2] == 1);
    CHECK(key_source_label(3) == "ldap");
    CHECK(s.key_lookups[4][2] == 1);
    CHECK(key_source_label(4) == "other");
    CHECK(s.gpg_failures[0][1] == 1);
}
