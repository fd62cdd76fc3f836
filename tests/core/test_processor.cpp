#include "core/processor.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "fake_encryptor.hpp"
#include "test_files.hpp"

using namespace mdcrypt;
namespace fs = std::filesystem;
using Action = MessageDecision::Action;

namespace {

const fs::path kProtected = fs::path(MDCRYPT_TEST_DATA) / "protected";

// Recipients by local part, all in the local domain example.test:
//   enc@      opportunistic, key found     -> Encrypt
//   req@      required, no key             -> Refuse
//   broken@   required, lookup error       -> Defer
//   nokey@    opportunistic, no key        -> Plain
// and anyone@elsewhere.example is not local -> Plain.
struct Fixture {
    Policy policy;
    KeyLookupFn lookup;
    testing::FakeEncryptor encryptor;
    SpoolSettings spool{fs::temp_directory_path(), 1 << 20};
    BoundaryGenerator boundaries = [] { return std::string("test.boundary_1"); };

    Fixture() {
        policy.domains["example.test"] = DomainPolicy{Mode::Opportunistic};
        policy.domains["required.example.test"] = DomainPolicy{Mode::Required};
        lookup = [](std::string_view address, std::int64_t) {
            KeyLookup result;
            if (address.rfind("enc@", 0) == 0) {
                result.status = KeyLookup::Status::Found;
                result.key = UsableKey{"AAAABBBBCCCCDDDDEEEEFFFF0000111122223333", 0, "test"};
            } else if (address.rfind("broken@", 0) == 0) {
                result.status = KeyLookup::Status::Error;
                result.reason = "keyring unreadable";
            } else {
                result.reason = "no key";
            }
            return result;
        };
    }

    std::vector<RecipientDecision> classify(const std::vector<std::string>& addresses) {
        std::vector<RecipientDecision> out;
        for (const auto& a : addresses) out.push_back(classify_envelope_recipient(policy, a, lookup, 0));
        return out;
    }

    ProcessResult run(const std::string& message, const std::vector<std::string>& addresses) {
        const ParsedHeader parsed = parse_header_block(message);
        StringSource body(std::string_view(message).substr(parsed.body_offset));
        return process(parsed.fields, body, addresses);
    }

    ProcessResult process(const std::vector<HeaderField>& fields, ByteSource& body, const std::vector<std::string>& addresses) {
        const ProcessContext context{policy, lookup, encryptor, spool, boundaries, 0};
        return process_message(context, fields, body, classify(addresses));
    }
};

const std::string kPlain = "From: a@example.net\r\nSubject: s\r\nContent-Type: text/plain\r\n\r\nThe meeting moved.\r\n";

// Fails after handing out `good` bytes, like a spool file that cannot be read.
class FailingSource final : public ByteSource {
public:
    explicit FailingSource(std::size_t good) : good_(good) {}
    std::size_t read(std::span<char> out) override {
        if (good_ == 0) throw std::runtime_error("spool read error");
        const std::size_t n = std::min(out.size(), good_);
        std::fill_n(out.data(), n, 'x');
        good_ -= n;
        return n;
    }

private:
    std::size_t good_;
};

}  // namespace

TEST_CASE("an already encrypted message is delivered unchanged and the log says why", "[processor]") {
    Fixture f;
    const std::string message = mdcrypt::testing::read_file(kProtected / "encrypted" / "pgp-mime-pkesk.eml");
    const ProcessResult r = f.run(message, {"<enc@example.test>"});
    CHECK(r.decision.action == Action::Pass);
    CHECK(r.decision.reason == "already encrypted: PGP/MIME");
    CHECK_FALSE(r.encrypted.has_value());
    CHECK(f.encryptor.calls == 0);
    // The recipient had a key, but a passed message names none: nothing after this may encrypt to it.
    CHECK(r.decision.fingerprints.empty());
    CHECK(r.decision.keys.empty());
    REQUIRE(r.protection.has_value());
    CHECK(r.protection->kind == ProtectionKind::PgpMime);
}

TEST_CASE("every recipient class but a failed key lookup receives an encrypted message as it is", "[processor]") {
    Fixture f;
    const std::string message = mdcrypt::testing::read_file(kProtected / "encrypted" / "smime-enveloped.eml");
    SECTION("required without a key: no plaintext is stored, so no refusal") {
        const ProcessResult r = f.run(message, {"<req@required.example.test>"});
        CHECK(r.decision.action == Action::Pass);
        CHECK(r.decision.reason == "already encrypted: S/MIME");
    }
    SECTION("encrypt and plain recipients together need no separate transactions") {
        const ProcessResult r = f.run(message, {"<enc@example.test>", "<someone@elsewhere.example>"});
        CHECK(r.decision.action == Action::Pass);
    }
    SECTION("a failed key lookup still tempfails") {
        const ProcessResult r = f.run(message, {"<enc@example.test>", "<broken@required.example.test>"});
        CHECK(r.decision.action == Action::Defer);
        CHECK_THAT(r.decision.reason, Catch::Contains("key lookup failed"));
    }
    SECTION("no recipients still tempfails") {
        CHECK(f.run(message, {}).decision.action == Action::Defer);
    }
    CHECK(f.encryptor.calls == 0);
}

TEST_CASE("mail passed anyway is not inspected", "[processor]") {
    Fixture f;
    const ProcessResult r = f.run(mdcrypt::testing::read_file(kProtected / "encrypted" / "pgp-mime-pkesk.eml"), {"<nokey@example.test>"});
    CHECK(r.decision.action == Action::Pass);
    CHECK_FALSE(r.protection.has_value());
}

TEST_CASE("a lookalike or signed message is encrypted with its body intact", "[processor]") {
    for (const char* name : {"lookalike/encrypted-holding-esk-then-literal.eml", "lookalike/x-encrypted-header.eml",
                             "signed/pgp-mime-signed.eml", "signed/smime-opaque-signed.eml"}) {
        SECTION(name) {
            Fixture f;
            const std::string message = mdcrypt::testing::read_file(kProtected / name);
            const ProcessResult r = f.run(message, {"<enc@example.test>"});
            CHECK(r.decision.action == Action::Encrypt);
            REQUIRE(r.encrypted.has_value());
            REQUIRE(r.protection.has_value());
            CHECK_FALSE(r.protection->is_protected());
            // Signatures keep verifying after decryption: the signed bytes go in unchanged.
            const std::string body = message.substr(parse_header_block(message).body_offset);
            CHECK(f.encryptor.last_plaintext.size() >= body.size());
            CHECK(f.encryptor.last_plaintext.compare(f.encryptor.last_plaintext.size() - body.size(), body.size(), body) == 0);
        }
    }
}

TEST_CASE("the bytes read ahead for detection are encrypted with the rest, in order", "[processor]") {
    Fixture f;
    std::string body;
    for (int i = 0; body.size() < 3 * kMaxInspectedBodyBytes + 17; ++i) body += "line " + std::to_string(i) + "\r\n";
    const ProcessResult r = f.run("Subject: big\r\n\r\n" + body, {"<enc@example.test>"});
    REQUIRE(r.decision.action == Action::Encrypt);
    const std::string& plaintext = f.encryptor.last_plaintext;
    REQUIRE(plaintext.size() >= body.size());
    CHECK(plaintext.substr(plaintext.size() - body.size()) == body);
}

TEST_CASE("a body that cannot be read is never passed", "[processor]") {
    Fixture f;
    const ParsedHeader parsed = parse_header_block(kPlain);
    SECTION("while reading ahead: the encryption fails on it and the message is tempfailed") {
        FailingSource body(100);
        const ProcessResult r = f.process(parsed.fields, body, {"<enc@example.test>"});
        CHECK(r.decision.action == Action::Defer);
        CHECK_THAT(r.decision.reason, Catch::Contains("spool read error"));
        CHECK_FALSE(r.encrypted.has_value());
    }
    SECTION("after the read-ahead limit") {
        FailingSource body(kMaxInspectedBodyBytes + 5);
        const ProcessResult r = f.process(parsed.fields, body, {"<enc@example.test>"});
        CHECK(r.decision.action == Action::Defer);
        CHECK_FALSE(r.encrypted.has_value());
    }
    SECTION("a refusal stays a refusal") {
        FailingSource body(0);
        const ProcessResult r = f.process(parsed.fields, body, {"<req@required.example.test>"});
        CHECK(r.decision.action == Action::Reject);
    }
}

TEST_CASE("plain mail for a recipient with a key is encrypted to that key", "[processor]") {
    Fixture f;
    const ProcessResult r = f.run(kPlain, {"<enc@example.test>"});
    CHECK(r.decision.action == Action::Encrypt);
    CHECK(r.decision.fingerprints == std::vector<std::string>{"AAAABBBBCCCCDDDDEEEEFFFF0000111122223333"});
    CHECK(f.encryptor.last_fingerprints == r.decision.fingerprints);
    REQUIRE(r.encrypted.has_value());
    CHECK(r.protection.has_value());
}

TEST_CASE("classify_envelope_recipient: the recipient's policy entry travels with its decision", "[processor]") {
    Fixture f;
    DomainPolicy own{Mode::Required};
    own.split = Split::PerRecipient;
    own.refusal = Refusal::Temporary;
    own.header_protection = false;
    f.policy.recipients["enc@example.test"] = own;
    const RecipientDecision enc = classify_envelope_recipient(f.policy, "<enc+tag@example.test>", f.lookup, 0);
    CHECK(enc.cls == RecipientClass::Encrypt);
    CHECK(enc.split == Split::PerRecipient);
    CHECK(enc.refusal == Refusal::Temporary);
    CHECK_FALSE(enc.header_protection);
    const RecipientDecision nokey = classify_envelope_recipient(f.policy, "<nokey@example.test>", f.lookup, 0);
    CHECK(nokey.split == Split::PerClass);
    CHECK(nokey.header_protection);
}

TEST_CASE("classify_envelope_recipient: the MTA's local mailer makes an unlisted domain local", "[processor]") {
    Fixture f;
    f.policy.defaults.mode = Mode::Required;
    // enc@ has a key wherever it is; elsewhere.example is not in the policy file.
    const RecipientDecision by_domain = classify_envelope_recipient(f.policy, "<enc@elsewhere.example>", f.lookup, 0);
    CHECK_FALSE(by_domain.local);
    CHECK(by_domain.cls == RecipientClass::Plain);
    const RecipientDecision by_mailer = classify_envelope_recipient(f.policy, "<enc@elsewhere.example>", f.lookup, 0, true);
    CHECK(by_mailer.local);
    CHECK(by_mailer.mode == Mode::Required);  // [default]
    CHECK(by_mailer.cls == RecipientClass::Encrypt);
    const RecipientDecision keyless = classify_envelope_recipient(f.policy, "<nokey@elsewhere.example>", f.lookup, 0, true);
    CHECK(keyless.cls == RecipientClass::Refuse);
}
