#include "mailbox/outcome.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;

namespace {

FilterReport report(FilterExit exit, MessageDecision::Action action, ProtectionKind kind = ProtectionKind::None) {
    FilterReport r;
    r.exit = exit;
    r.result.decision.action = action;
    if (kind != ProtectionKind::None) r.result.protection = Protection{kind, "test"};
    return r;
}

}  // namespace

TEST_CASE("the core's verdict on a stored message decides what happens to it") {
    CHECK(outcome_of(report(FilterExit::Ok, MessageDecision::Action::Encrypt)) == StoredOutcome::Encrypted);
    CHECK(outcome_of(report(FilterExit::Ok, MessageDecision::Action::Pass, ProtectionKind::Smime)) == StoredOutcome::AlreadyProtected);
    CHECK(outcome_of(report(FilterExit::Ok, MessageDecision::Action::Pass)) == StoredOutcome::LeftPlain);
    // Required without a key: stored mail cannot be refused; it stays as it is, not "failed" forever.
    CHECK(outcome_of(report(FilterExit::NoPermission, MessageDecision::Action::Reject)) == StoredOutcome::LeftPlain);
    // A key source or engine failure is a failure: the message stays, the exit status says run again.
    CHECK(outcome_of(report(FilterExit::TempFail, MessageDecision::Action::Defer)) == StoredOutcome::Failed);
}

TEST_CASE("recovery never stores a second copy while the original exists") {
    CHECK(recovery_for(true, false) == Recovery::RestoreOriginal);
    CHECK(recovery_for(true, true) == Recovery::RestoreOriginal);
    CHECK(recovery_for(false, true) == Recovery::KeepCopy);
    CHECK(recovery_for(false, false) == Recovery::AppendCopy);
}

TEST_CASE("boundaries carry the token, differ per part and none is a prefix of another") {
    const std::string token(32, 'a');
    const std::string b1 = token_boundary(token, 1), b10 = token_boundary(token, 10);
    CHECK(b1.find(token) != std::string::npos);
    CHECK(b1 != b10);
    CHECK_FALSE(b10.starts_with(b1));
    CHECK(b1.size() <= 70);  // RFC 2046
}

TEST_CASE("the summary line counts each outcome") {
    MailboxCounts counts;
    for (auto o : {StoredOutcome::Encrypted, StoredOutcome::Encrypted, StoredOutcome::AlreadyProtected, StoredOutcome::LeftPlain,
                   StoredOutcome::Failed})
        counts.add(o);
    CHECK(summary_line("alice", counts, false) == "mdcrypt-mailbox: alice: encrypted 2, already protected 1, left plain 1, failed 1");
    CHECK(summary_line("alice", counts, true) == "mdcrypt-mailbox: alice: would encrypt 2, already protected 1, left plain 1, failed 1");
    // A cron mail must not read "failed 0" as "all done" when the run stopped early.
    CHECK(summary_line("alice", MailboxCounts{}, false, false) ==
          "mdcrypt-mailbox: alice: encrypted 0, already protected 0, left plain 0, failed 0; not finished");
}
