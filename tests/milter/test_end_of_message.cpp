#include <catch2/catch.hpp>

#include "core/bytes.hpp"
#include "core/header.hpp"
#include "fakes.hpp"
#include "milter/end_of_message.hpp"
#include "test_files.hpp"

using namespace mdcrypt;
using namespace mdcrypt::milter;
using Verdict = MessageDecision::Action;
using Action = MessageDecision::Action;

namespace {

RecipientDecision recipient(const std::string& address, RecipientClass cls) {
    RecipientDecision r;
    r.address = address;
    r.cls = cls;
    r.local = cls != RecipientClass::Plain;
    return r;
}

MessageDecision decision(Action action, std::vector<std::string> fingerprints = {}, std::string reason = "why") {
    MessageDecision d;
    d.action = action;
    d.fingerprints = std::move(fingerprints);
    d.reason = std::move(reason);
    return d;
}

struct Fixture {
    testing::TempDir dir;
    Config config;
    testing::FakeEncryptor encryptor;
    KeyLookupFn lookup = testing::table_lookup({{"alice@example.test", "AAAA"}, {"bob@example.test", "BBBB"}},
                                               {"broken@example.test"});
    BoundaryGenerator boundaries = [] { return std::string("BOUNDARY"); };

    Fixture() {
        config.milter.spool_directory = dir.path();
        config.policy.domains["example.test"] = DomainPolicy{Mode::Opportunistic};
        config.policy.domains["secure.test"] = DomainPolicy{Mode::Required};
    }

    EomContext context() { return EomContext{config, lookup, encryptor, boundaries, 1'700'000'000}; }

    MessageState message(std::vector<std::string> recipients, std::uint64_t max_size = 0) {
        MessageState m({dir.path(), 1024}, max_size);
        m.set_sender("<bob@example.net>");
        for (const auto& r : recipients) m.add_recipient(r);
        m.add_header("From", " Bob <bob@example.net>", true);
        m.add_header("Subject", " hi", true);
        m.add_header("Content-Type", " text/plain;\n\tcharset=utf-8", true);
        m.add_header("Content-Transfer-Encoding", " 8bit", true);
        m.append_body("Hello\r\n");
        return m;
    }
};

}  // namespace

TEST_CASE("outcome table: what the MTA is told for each decision") {
    SECTION("pass is accepted untouched, with no reply") {
        const auto o = outcome_for({recipient("a@x", RecipientClass::Plain)}, decision(Action::Pass), false);
        CHECK(o.verdict == Verdict::Pass);
        CHECK_FALSE(o.reply);
    }
    SECTION("encrypt is applied") {
        const auto o = outcome_for({recipient("a@x", RecipientClass::Encrypt)}, decision(Action::Encrypt, {"F"}), false);
        CHECK(o.verdict == Verdict::Encrypt);
        CHECK_FALSE(o.reply);
    }
    SECTION("a required recipient without a key is refused with 550 5.7.1 naming the recipient") {
        const auto o = outcome_for({recipient("a@x", RecipientClass::Refuse)}, decision(Action::Reject), false);
        CHECK(o.verdict == Verdict::Reject);
        REQUIRE(o.reply);
        CHECK(o.reply->rcode == "550");
        CHECK(o.reply->xcode == "5.7.1");
        CHECK_THAT(o.reply->text, Catch::StartsWith("a@x: "));
    }
    SECTION("a failed key lookup is 451 4.7.0 and never shows the engine's words") {
        const auto o = outcome_for({recipient("a@x", RecipientClass::Defer)},
                                   decision(Action::Defer, {}, "a@x: key lookup failed: /var/lib/gnupg: EACCES"), false);
        CHECK(o.verdict == Verdict::Defer);
        REQUIRE(o.reply);
        CHECK(o.reply->rcode == "451");
        CHECK(o.reply->xcode == "4.7.0");
        CHECK(o.reply->text.find("/var/lib") == std::string::npos);
        CHECK_THAT(o.log_reason, Catch::Contains("EACCES"));
    }
    SECTION("a failed encryption is 451 4.3.0") {
        const auto o = outcome_for({recipient("a@x", RecipientClass::Encrypt)},
                                   decision(Action::Defer, {"F"}, "encryption failed: gpg: secret"), false);
        REQUIRE(o.reply);
        CHECK(o.reply->rcode == "451");
        CHECK(o.reply->xcode == "4.3.0");
        CHECK(o.reply->text.find("gpg") == std::string::npos);
    }
    SECTION("a mix of encrypt and plain recipients is tempfailed") {
        const auto o = outcome_for({recipient("a@x", RecipientClass::Encrypt), recipient("b@y", RecipientClass::Plain)},
                                   decision(Action::Defer), false);
        CHECK(o.verdict == Verdict::Defer);
        REQUIRE(o.reply);
        CHECK(o.reply->xcode == "4.7.0");
    }
    SECTION("too large: passed when nobody needs encryption, 452 4.3.4 when someone does") {
        CHECK(outcome_for({recipient("a@x", RecipientClass::Plain)}, decision(Action::Pass), true).verdict == Verdict::Pass);
        const auto o = outcome_for({recipient("a@x", RecipientClass::Encrypt)}, decision(Action::Encrypt, {"F"}), true);
        CHECK(o.verdict == Verdict::Defer);
        REQUIRE(o.reply);
        CHECK(o.reply->rcode == "452");
        CHECK(o.reply->xcode == "4.3.4");
        CHECK(o.too_large);
        CHECK(outcome_for({recipient("a@x", RecipientClass::Refuse)}, decision(Action::Reject), true).verdict ==
              Verdict::Reject);
    }
}

TEST_CASE("reply texts are safe for smfi_setreply") {
    CHECK(smtp_reply_text("100% sure") == "100%% sure");
    CHECK(smtp_reply_text("a\r\nb\x01") == "a  b ");
    CHECK(smtp_reply_text("caf\xc3\xa9") == "caf  ");
    CHECK(smtp_reply_text(std::string(500, 'x')).size() == 200);
}

TEST_CASE("a keyed local recipient: the message is encrypted with the original Content-* fields inside") {
    Fixture f;
    const auto m = f.message({"<Alice@Example.TEST>"});
    const auto o = finish_message(f.context(), m);
    REQUIRE(o.verdict == Verdict::Encrypt);
    REQUIRE(o.encrypted);
    CHECK(o.decision.fingerprints == std::vector<std::string>{"AAAA"});
    // What the entity looks like is the core's business (pgp_mime tests); here: the header fields the
    // MTA sent, normalised to CRLF, and the body reach it.
    CHECK_THAT(f.encryptor.last_plaintext, Catch::Contains("Content-Type: text/plain;\r\n\tcharset=utf-8"));
    CHECK_THAT(f.encryptor.last_plaintext, Catch::Contains("Content-Transfer-Encoding: 8bit\r\n"));
    CHECK_THAT(f.encryptor.last_plaintext, Catch::EndsWith("\r\n\r\nHello\r\n"));
    CHECK(o.encrypted->body->boundary() == "BOUNDARY");
    CHECK_FALSE(o.encrypted->header_edits.empty());
}

TEST_CASE("recipients without a key, or outside the local domains, leave the message untouched") {
    Fixture f;
    CHECK(finish_message(f.context(), f.message({"<carol@example.test>"})).verdict == Verdict::Pass);
    CHECK(finish_message(f.context(), f.message({"<alice@elsewhere.test>"})).verdict == Verdict::Pass);
    CHECK(f.encryptor.calls == 0);
}

TEST_CASE("a required domain without a key rejects, a lookup error tempfails") {
    Fixture f;
    CHECK(finish_message(f.context(), f.message({"<dave@secure.test>"})).verdict == Verdict::Reject);
    CHECK(finish_message(f.context(), f.message({"<broken@example.test>"})).verdict == Verdict::Defer);
}

TEST_CASE("two keyed recipients share one encryption to both keys") {
    Fixture f;
    const auto o = finish_message(f.context(), f.message({"<alice@example.test>", "<bob@example.test>"}));
    REQUIRE(o.verdict == Verdict::Encrypt);
    CHECK(f.encryptor.calls == 1);
    CHECK(f.encryptor.last_fingerprints == std::vector<std::string>{"AAAA", "BBBB"});
}

TEST_CASE("an encryption failure tempfails and carries no edits: never fail open") {
    Fixture f;
    f.encryptor.fail = true;
    const auto o = finish_message(f.context(), f.message({"<alice@example.test>"}));
    CHECK(o.verdict == Verdict::Defer);
    CHECK_FALSE(o.encrypted);
    REQUIRE(o.reply);
    CHECK(o.reply->rcode == "451");
}

TEST_CASE("a message over max_message_size is never encrypted half: tempfail for a keyed recipient") {
    Fixture f;
    auto m = f.message({"<alice@example.test>"}, 50);
    m.append_body(std::string(100, 'x'));
    REQUIRE(m.too_large());
    const auto o = finish_message(f.context(), m);
    CHECK(o.verdict == Verdict::Defer);
    CHECK(o.reply->rcode == "452");
    CHECK(o.log_reason == "message too large to encrypt (over milter.max_message_size = 50 bytes)");
    CHECK(f.encryptor.calls == 0);

    auto plain = f.message({"<carol@example.test>"}, 50);
    plain.append_body(std::string(100, 'x'));
    CHECK(finish_message(f.context(), plain).verdict == Verdict::Pass);
}

TEST_CASE("a header block over the core's limit is named as such, not as max_message_size, when that is unset") {
    Fixture f;
    auto m = f.message({"<alice@example.test>"}, 0);
    m.add_header("X-Big", " " + std::string(kMaxHeaderBlockBytes, 'h'), true);
    REQUIRE(m.too_large());
    const auto o = finish_message(f.context(), m);
    CHECK(o.verdict == Verdict::Defer);
    CHECK(o.reply->rcode == "452");
    CHECK(o.log_reason == "message too large to encrypt (header block over " + std::to_string(kMaxHeaderBlockBytes) +
                              " bytes)");
    CHECK(o.log_reason.find("max_message_size") == std::string::npos);
}

TEST_CASE("a message over max_message_size that is already encrypted is passed, even for a required recipient") {
    Fixture f;
    const std::string eml =
        mdcrypt::testing::read_file(std::string(MDCRYPT_TEST_DATA) + "/protected/encrypted/pgp-mime-pkesk.eml");
    const ParsedHeader parsed = parse_header_block(eml);
    REQUIRE_FALSE(parsed.fields.empty());
    auto feed = [&](const std::vector<std::string>& recipients) {
        MessageState m({f.dir.path(), 1024}, 200);  // far below the message's size
        for (const auto& r : recipients) m.add_recipient(r);
        for (const auto& field : parsed.fields) m.add_header(field.name, field.raw_value, true);
        const std::string body = eml.substr(parsed.body_offset);
        for (std::size_t at = 0; at < body.size(); at += 100) m.append_body(std::string_view(body).substr(at, 100));
        REQUIRE(m.too_large());
        return m;
    };
    for (const char* rcpt : {"<alice@example.test>", "<nokey@secure.test>"}) {
        CAPTURE(rcpt);
        const auto o = finish_message(f.context(), feed({rcpt}));
        CHECK(o.verdict == Verdict::Pass);
        CHECK(o.log_reason == "already encrypted: PGP/MIME");
        CHECK(o.decision.fingerprints.empty());
        CHECK(o.decision.keys.empty());
        CHECK(f.encryptor.calls == 0);
    }
    // A failed key lookup still defers it.
    CHECK(finish_message(f.context(), feed({"<broken@example.test>"})).verdict == Verdict::Defer);
}

TEST_CASE("a transaction without recipients is tempfailed") {
    Fixture f;
    const auto o = finish_message(f.context(), f.message({}));
    CHECK(o.verdict == Verdict::Defer);
}

TEST_CASE("a message that failed in a step without a reply is tempfailed at end of message") {
    Fixture f;
    auto m = f.message({"<alice@example.test>"});
    m.fail("header: bad_alloc");
    const auto o = finish_message(f.context(), m);
    CHECK(o.verdict == Verdict::Defer);
    REQUIRE(o.reply);
    CHECK(o.reply->rcode == "451");
    CHECK(o.reply->xcode == "4.3.0");
    CHECK(o.reply->text.find("bad_alloc") == std::string::npos);
    CHECK_THAT(o.log_reason, Catch::Contains("header: bad_alloc"));
    CHECK(f.encryptor.calls == 0);
    CHECK_FALSE(o.encrypted);
}

TEST_CASE("a failed message is tempfailed even when nobody needs encryption: never half-processed") {
    Fixture f;
    auto m = f.message({"<carol@example.test>"});
    m.fail("mail: no memory");
    CHECK(finish_message(f.context(), m).verdict == Verdict::Defer);
}

TEST_CASE("when the MTA refuses the encrypted message the outcome becomes a tempfail") {
    Fixture f;
    const auto m = f.message({"<alice@example.test>"});
    auto o = finish_message(f.context(), m);
    REQUIRE(o.verdict == Verdict::Encrypt);
    o = application_failed(std::move(o), "the MTA refused the replacement body");
    CHECK(o.verdict == Verdict::Defer);
    REQUIRE(o.reply);
    CHECK(o.reply->rcode == "451");
    CHECK_FALSE(o.encrypted);
    CHECK_THAT(o.log_reason, Catch::Contains("replacement body"));
}

TEST_CASE("the log record names the queue id, recipients, keys and sizes, keys only when encrypted") {
    Fixture f;
    auto m = f.message({"<alice@example.test>"});
    m.set_queue_id("QID7");
    auto encrypted = finish_message(f.context(), m);
    const auto r = log_record(m, encrypted, 1234, 9);
    CHECK(r.queue_id == "QID7");
    CHECK(r.verdict == Verdict::Encrypt);
    CHECK(r.recipients == 1);
    CHECK(r.fingerprints == std::vector<std::string>{"AAAA"});
    CHECK(r.size_in == m.bytes_received());
    CHECK(r.size_out == 1234);
    CHECK(r.milliseconds == 9);
    CHECK(r.reply.empty());

    const auto refused = application_failed(std::move(encrypted), "x");
    const auto t = log_record(m, refused, 0, 1);
    CHECK(t.verdict == Verdict::Defer);
    CHECK(t.reply == "451 4.3.0");
    CHECK(t.fingerprints.empty());
}
