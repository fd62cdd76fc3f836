#include <catch2/catch.hpp>

#include "fakes.hpp"
#include "milter/end_of_message.hpp"
#include "milter/recipient_step.hpp"

using namespace mdcrypt;
using namespace mdcrypt::milter;
using Verdict = Admission::Verdict;

namespace {

// alice and bob have keys; carol is local without one; boss@secure.test is required without one;
// broken@ fails its lookup; anyone elsewhere is remote.
struct Fixture {
    testing::TempDir dir;
    Config config;
    KeyLookupFn lookup = testing::table_lookup(
        {{"alice@example.test", "AAAA"}, {"bob@example.test", "BBBB"}, {"dora@hosted.test", "DDDD"}},
        {"broken@example.test"});
    MessageState message{{dir.path(), 1024}, 0};

    Fixture() {
        config.milter.spool_directory = dir.path();
        config.policy.domains["example.test"] = DomainPolicy{Mode::Opportunistic};
        config.policy.domains["secure.test"] = DomainPolicy{Mode::Required};
    }

    RcptOutcome rcpt(std::string_view address, std::optional<std::string_view> mailer = "virtual") {
        return check_recipient(RcptContext{config, lookup, 1'700'000'000}, message, address, mailer);
    }
};

}  // namespace

TEST_CASE("check_recipient: SMTP replies at RCPT time", "[recipient_step]") {
    Fixture f;
    SECTION("keyed, keyless local and remote: the keyed one fixes the class, the others are deferred") {
        CHECK(f.rcpt("<alice@example.test>").admission.verdict == Verdict::Accept);
        const RcptOutcome carol = f.rcpt("<carol@example.test>");
        CHECK(carol.admission.verdict == Verdict::Separate);
        REQUIRE(carol.admission.reply);
        CHECK(carol.admission.reply->rcode == "452");
        CHECK(carol.admission.reply->xcode == "4.5.3");
        CHECK(f.rcpt("<someone@remote.test>", "smtp").admission.verdict == Verdict::Separate);
        CHECK(f.rcpt("<bob@example.test>").admission.verdict == Verdict::Accept);
        // Only the accepted recipients are in the transaction end of message sees.
        CHECK(f.message.recipients() == std::vector<std::string>{"<alice@example.test>", "<bob@example.test>"});
        CHECK(f.message.admitted().size() == 2);
    }
    SECTION("required without a key: 550 5.7.1 and not recorded") {
        const RcptOutcome boss = f.rcpt("<boss@secure.test>");
        CHECK(boss.admission.verdict == Verdict::Refuse);
        REQUIRE(boss.admission.reply);
        CHECK(boss.admission.reply->rcode == "550");
        CHECK(f.message.recipients().empty());
        CHECK_THAT(format_rcpt_line("Q1", boss), Catch::Contains("rcpt=<boss@secure.test>") &&
                                                    Catch::Contains("class=refuse") && Catch::Contains("reply=\"550 5.7.1\""));
    }
    SECTION("a failed lookup: 451 4.7.0") {
        const RcptOutcome broken = f.rcpt("<broken@example.test>");
        CHECK(broken.admission.verdict == Verdict::Defer);
        CHECK(broken.admission.reply->rcode == "451");
        CHECK(f.message.recipients().empty());
    }
    SECTION("reply text is made safe for smfi_setreply") {
        const RcptOutcome odd = f.rcpt("<100%boss@secure.test>");  // libmilter reads '%' as a format
        REQUIRE(odd.admission.reply);
        CHECK_THAT(odd.admission.reply->text, Catch::StartsWith("<100%%boss@secure.test>"));
    }
}

TEST_CASE("check_recipient: without {rcpt_mailer} nothing is refused at RCPT time", "[recipient_step]") {
    // Postfix's non_smtpd_milters: a refused simulated RCPT is a configuration error there.
    Fixture f;
    for (const char* address : {"<alice@example.test>", "<carol@example.test>", "<boss@secure.test>", "<broken@example.test>"}) {
        const RcptOutcome o = f.rcpt(address, std::nullopt);
        CHECK_FALSE(o.can_defer);
        CHECK(o.admission.verdict == Verdict::Accept);
    }
    CHECK(f.message.recipients().size() == 4);
    CHECK_THAT(format_rcpt_line("", f.rcpt("<x@example.test>", std::nullopt)), Catch::Contains("deferrable=no"));
}

TEST_CASE("check_recipient: milter.local_mailers makes a recipient local by its mailer", "[recipient_step]") {
    Fixture f;
    f.config.milter.local_mailers = {"lmtp"};
    SECTION("an unlisted domain delivered by a listed mailer gets the default policy") {
        const RcptOutcome dora = f.rcpt("<dora@hosted.test>", "lmtp");
        CHECK(dora.decision.local);
        CHECK(dora.decision.cls == RecipientClass::Encrypt);
    }
    SECTION("another mailer leaves it remote") {
        const RcptOutcome dora = f.rcpt("<dora@hosted.test>", "smtp");
        CHECK_FALSE(dora.decision.local);
        CHECK(dora.decision.cls == RecipientClass::Plain);
    }
    SECTION("end of message classifies it the same way and encrypts") {
        REQUIRE(f.rcpt("<dora@hosted.test>", "lmtp").admission.verdict == Verdict::Accept);
        f.message.add_header("From", " a@b.test", true);
        f.message.add_header("Content-Type", " text/plain", true);
        f.message.append_body("hello\r\n");
        testing::FakeEncryptor encryptor;
        const BoundaryGenerator boundaries = [] { return std::string("BOUNDARY"); };
        const EomOutcome out = finish_message(EomContext{f.config, f.lookup, encryptor, boundaries, 1'700'000'000}, f.message);
        CHECK(out.verdict == MessageDecision::Action::Encrypt);
        CHECK(encryptor.last_fingerprints == std::vector<std::string>{"DDDD"});
    }
}

TEST_CASE("end of message: a mix that could not be split at RCPT time is tempfailed with the way out logged",
          "[recipient_step]") {
    Fixture f;
    testing::FakeEncryptor encryptor;
    const BoundaryGenerator boundaries = [] { return std::string("BOUNDARY"); };
    auto finish = [&](std::optional<std::string_view> mailer) {
        MessageState message({f.dir.path(), 1024}, 0);
        for (const char* address : {"alice@example.test", "carol@example.test"})
            check_recipient(RcptContext{f.config, f.lookup, 1'700'000'000}, message, address, mailer);
        message.add_header("From", " a@b.test", true);
        message.append_body("hello\r\n");
        return finish_message(EomContext{f.config, f.lookup, encryptor, boundaries, 1'700'000'000}, message);
    };
    const EomOutcome non_smtp = finish(std::nullopt);
    CHECK(non_smtp.verdict == MessageDecision::Action::Defer);
    REQUIRE(non_smtp.reply);
    CHECK(non_smtp.reply->rcode == "451");
    CHECK_THAT(non_smtp.log_reason, Catch::Contains("alice@example.test") && Catch::Contains("carol@example.test") &&
                                        Catch::Contains("delivery-side placement"));
    CHECK(encryptor.calls == 0);
}
