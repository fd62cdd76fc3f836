#include "core/recipient_admission.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace mdcrypt;
using Verdict = Admission::Verdict;

namespace {

RecipientDecision rcpt(const char* address, RecipientClass cls, const char* fingerprint = nullptr,
                       Split split = Split::PerClass) {
    RecipientDecision d;
    d.address = address;
    d.cls = cls;
    d.local = cls != RecipientClass::Plain;
    if (fingerprint) d.key = UsableKey{fingerprint, 0, "keyring"};
    d.split = split;
    return d;
}

const auto alice = rcpt("alice@example.test", RecipientClass::Encrypt, "AAAA");
const auto bob = rcpt("bob@example.test", RecipientClass::Encrypt, "BBBB");
const auto carol = rcpt("carol@example.test", RecipientClass::Plain);
const auto remote = rcpt("someone@remote.test", RecipientClass::Plain);
const auto boss = rcpt("boss@example.test", RecipientClass::Refuse);
const auto broken = rcpt("broken@example.test", RecipientClass::Defer);

// Feeds the RCPTs in order, as the milter does, and returns each one's verdict.
std::vector<Verdict> admit_sequence(const std::vector<RecipientDecision>& rcpts, bool can_defer = true) {
    std::vector<RecipientDecision> accepted;
    std::vector<Verdict> verdicts;
    for (const auto& r : rcpts) {
        const Admission a = admit_recipient(accepted, r, can_defer);
        verdicts.push_back(a.verdict);
        CHECK(a.reply.has_value() == (a.verdict != Verdict::Accept));
        if (a.verdict == Verdict::Accept) accepted.push_back(r);
    }
    return verdicts;
}

}  // namespace

TEST_CASE("admit_recipient: replies per class", "[admission]") {
    SECTION("a required recipient without a key is refused 550 5.7.1, naming it") {
        const Admission a = admit_recipient({}, boss, true);
        CHECK(a.verdict == Verdict::Refuse);
        REQUIRE(a.reply);
        CHECK(*a.reply == SmtpReply{"550", "5.7.1", "<boss@example.test>: encryption is required but no usable OpenPGP key is known"});
    }
    SECTION("refusal = temporary makes it 450 4.7.1, so the sender retries") {
        auto temporary = boss;
        temporary.refusal = Refusal::Temporary;
        const Admission a = admit_recipient({}, temporary, true);
        CHECK(a.verdict == Verdict::Refuse);
        REQUIRE(a.reply);
        CHECK(a.reply->rcode == "450");
        CHECK(a.reply->xcode == "4.7.1");
    }
    SECTION("a failed key lookup is 451 4.7.0, never a silent downgrade") {
        const Admission a = admit_recipient({}, broken, true);
        CHECK(a.verdict == Verdict::Defer);
        REQUIRE(a.reply);
        CHECK(a.reply->rcode == "451");
        CHECK(a.reply->xcode == "4.7.0");
        CHECK_THAT(a.reply->text, Catch::Contains("<broken@example.test>"));
    }
    SECTION("the first encrypt or plain recipient is accepted") {
        CHECK(admit_recipient({}, alice, true).verdict == Verdict::Accept);
        CHECK(admit_recipient({}, carol, true).verdict == Verdict::Accept);
    }
    SECTION("a recipient of the other class is deferred with 452 4.5.3") {
        const std::vector<RecipientDecision> accepted{alice};
        const Admission a = admit_recipient(accepted, carol, true);
        CHECK(a.verdict == Verdict::Separate);
        REQUIRE(a.reply);
        CHECK(a.reply->rcode == "452");
        CHECK(a.reply->xcode == "4.5.3");
        CHECK_THAT(a.reply->text, Catch::StartsWith("<carol@example.test>: needs a plain copy"));
    }
}

TEST_CASE("admit_recipient: a sequence of RCPTs, split per class", "[admission]") {
    using V = Verdict;
    SECTION("keyed, keyless local, remote: the first fixes the class") {
        CHECK(admit_sequence({alice, carol, remote}) == std::vector<V>{V::Accept, V::Separate, V::Separate});
        CHECK(admit_sequence({carol, alice, remote}) == std::vector<V>{V::Accept, V::Separate, V::Accept});
        CHECK(admit_sequence({remote, carol, alice}) == std::vector<V>{V::Accept, V::Accept, V::Separate});
    }
    SECTION("keyed recipients share one copy") {
        CHECK(admit_sequence({alice, bob, carol, remote}) == std::vector<V>{V::Accept, V::Accept, V::Separate, V::Separate});
    }
    SECTION("refused and deferred recipients do not fix the class") {
        CHECK(admit_sequence({boss, broken, carol, alice}) == std::vector<V>{V::Refuse, V::Defer, V::Accept, V::Separate});
        CHECK(admit_sequence({boss, alice, carol}) == std::vector<V>{V::Refuse, V::Accept, V::Separate});
    }
    SECTION("the deferred recipients of a retry form the next transaction") {
        // What the sending MTA does next: carol and remote in a transaction of their own.
        CHECK(admit_sequence({carol, remote}) == std::vector<V>{V::Accept, V::Accept});
    }
}

TEST_CASE("admit_recipient: split = per-recipient", "[admission]") {
    using V = Verdict;
    const auto alice_own = rcpt("alice@example.test", RecipientClass::Encrypt, "AAAA", Split::PerRecipient);
    const auto bob_own = rcpt("bob@example.test", RecipientClass::Encrypt, "BBBB", Split::PerRecipient);
    const auto alice_lists = rcpt("alice+lists@example.test", RecipientClass::Encrypt, "AAAA", Split::PerRecipient);

    SECTION("each keyed recipient gets a transaction of its own") {
        CHECK(admit_sequence({alice_own, bob_own, carol}) == std::vector<V>{V::Accept, V::Separate, V::Separate});
        CHECK(admit_sequence({bob_own, carol}) == std::vector<V>{V::Accept, V::Separate});
    }
    SECTION("either side's per-recipient setting keeps them apart") {
        CHECK(admit_sequence({alice_own, bob}) == std::vector<V>{V::Accept, V::Separate});
        CHECK(admit_sequence({bob, alice_own}) == std::vector<V>{V::Accept, V::Separate});
    }
    SECTION("addresses with the same key share a copy: nobody learns a new key ID") {
        CHECK(admit_sequence({alice_own, alice_lists}) == std::vector<V>{V::Accept, V::Accept});
    }
    SECTION("plain recipients are unaffected") {
        CHECK(admit_sequence({carol, remote}) == std::vector<V>{V::Accept, V::Accept});
    }
}

TEST_CASE("admit_recipient: a submission that cannot defer accepts everyone", "[admission]") {
    // Postfix's non_smtpd_milters must not refuse a simulated RCPT; end of message decides instead.
    const std::vector<RecipientDecision> all{alice, carol, boss, broken, remote};
    for (const Verdict v : admit_sequence(all, false)) CHECK(v == Verdict::Accept);
}

TEST_CASE("transaction_class: the first accepted encrypt or plain recipient", "[admission]") {
    CHECK_FALSE(transaction_class({}).has_value());
    const std::vector<RecipientDecision> refused_first{boss, carol, alice};
    CHECK(transaction_class(refused_first) == RecipientClass::Plain);
    const std::vector<RecipientDecision> keyed_first{alice, carol};
    CHECK(transaction_class(keyed_first) == RecipientClass::Encrypt);
}
