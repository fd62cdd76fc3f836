#include "core/policy.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/edits.hpp"
#include "core/processor.hpp"
#include "fake_encryptor.hpp"

using mdcrypt::Mode;
using mdcrypt::Policy;

namespace {

Policy make_policy(std::initializer_list<std::pair<const char*, Mode>> domains) {
    Policy policy;
    for (const auto& [name, mode] : domains) policy.domains[name] = mdcrypt::DomainPolicy{mode};
    return policy;
}

}  // namespace

TEST_CASE("mode names are the ones written in the policy file") {
    for (Mode mode : {Mode::Off, Mode::Opportunistic, Mode::Required}) CHECK(mdcrypt::parse_mode(to_string(mode)) == mode);
    CHECK(to_string(Mode::Off) == "off");
    CHECK(to_string(Mode::Opportunistic) == "opportunistic");
    CHECK(to_string(Mode::Required) == "required");
    CHECK_FALSE(mdcrypt::parse_mode("encrypt"));
    CHECK_FALSE(mdcrypt::parse_mode(""));
}

TEST_CASE("only listed domains are local, compared case-insensitively") {
    const Policy policy = make_policy({{"example.org", Mode::Required}});
    CHECK(policy.for_domain("example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("Example.ORG")->mode == Mode::Required);
    CHECK_FALSE(policy.for_domain("example.com"));
    CHECK_FALSE(policy.for_domain("mail.example.org"));  // an exact entry does not cover subdomains
    CHECK_FALSE(policy.for_domain(""));
}

TEST_CASE("a wildcard covers every subdomain but not the domain itself") {
    const Policy policy = make_policy({{"*.example.org", Mode::Required}});
    CHECK(policy.for_domain("lists.example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("a.b.Example.Org")->mode == Mode::Required);
    CHECK_FALSE(policy.for_domain("example.org"));
    CHECK_FALSE(policy.for_domain("badexample.org"));  // a suffix match must end at a dot
    CHECK_FALSE(policy.for_domain("example.org.evil.com"));
}

TEST_CASE("the most specific entry wins") {
    const Policy policy = make_policy({{"example.org", Mode::Off},
                                       {"*.example.org", Mode::Opportunistic},
                                       {"*.lists.example.org", Mode::Required},
                                       {"mail.example.org", Mode::Required},
                                       {"archive.lists.example.org", Mode::Off}});
    CHECK(policy.for_domain("example.org")->mode == Mode::Off);
    CHECK(policy.for_domain("www.example.org")->mode == Mode::Opportunistic);
    CHECK(policy.for_domain("mail.example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("dev.lists.example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("x.dev.lists.example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("archive.lists.example.org")->mode == Mode::Off);
    CHECK(policy.for_domain("lists.example.org")->mode == Mode::Opportunistic);
}

// --- How the policy shapes an encrypted message (rewrite_options, process_message) ---

namespace {

Policy hp_policy();

// A recipient of `policy` with a key, classified as the milter and the filter do.
mdcrypt::RecipientDecision encrypt_class(const std::string& address, const Policy& policy = hp_policy()) {
    const mdcrypt::KeyLookupFn found = [](std::string_view, std::int64_t) {
        return mdcrypt::KeyLookup{mdcrypt::KeyLookup::Status::Found, mdcrypt::UsableKey{"FPR", 0, "test"}, {}};
    };
    auto r = mdcrypt::classify_envelope_recipient(policy, address, found, 0);
    REQUIRE(r.cls == mdcrypt::RecipientClass::Encrypt);
    return r;
}

Policy hp_policy() {
    Policy policy;
    policy.domains["on.example"] = mdcrypt::DomainPolicy{Mode::Opportunistic, true};
    policy.domains["off.example"] = mdcrypt::DomainPolicy{Mode::Opportunistic, false};
    policy.domains["*.off.example"] = mdcrypt::DomainPolicy{Mode::Opportunistic, false};
    return policy;
}

}  // namespace

TEST_CASE("header protection is on for a message when any encrypt-class recipient's domain has it on") {
    const Policy policy = hp_policy();
    using V = std::vector<mdcrypt::RecipientDecision>;
    CHECK(mdcrypt::rewrite_options(policy, V{encrypt_class("a@on.example")}).header_protection);
    CHECK_FALSE(mdcrypt::rewrite_options(policy, V{encrypt_class("a@off.example")}).header_protection);
    CHECK_FALSE(mdcrypt::rewrite_options(policy, V{encrypt_class("a@Sub.Off.Example")}).header_protection);
    CHECK(mdcrypt::rewrite_options(policy, V{encrypt_class("a@off.example"), encrypt_class("b@ON.example")}).header_protection);
    CHECK(mdcrypt::rewrite_options(policy, V{encrypt_class("b@on.example"), encrypt_class("a@off.example")}).header_protection);

    // Only encrypt-class recipients count (the others never receive this form of the message).
    auto plain = encrypt_class("c@on.example");
    plain.cls = mdcrypt::RecipientClass::Plain;
    CHECK_FALSE(mdcrypt::rewrite_options(policy, V{encrypt_class("a@off.example"), plain}).header_protection);

    Policy stripping = policy;
    stripping.strip_fields_when_encrypted = {"DKIM-Signature"};
    CHECK(mdcrypt::rewrite_options(stripping, V{encrypt_class("a@off.example")}).strip_fields ==
          std::vector<std::string>{"DKIM-Signature"});
    CHECK(mdcrypt::rewrite_options(policy, V{}).strip_fields.empty());
}

TEST_CASE("process_message rewrites with the recipients' header protection and stripped fields") {
    Policy policy = hp_policy();
    policy.strip_fields_when_encrypted = {"DKIM-Signature"};
    const mdcrypt::KeyLookupFn lookup = [](std::string_view, std::int64_t) { return mdcrypt::KeyLookup{}; };
    mdcrypt::testing::FakeEncryptor encryptor;
    const mdcrypt::SpoolSettings spool{std::filesystem::temp_directory_path(), 1 << 20};
    const mdcrypt::BoundaryGenerator boundaries = [] { return std::string("b.1"); };
    const mdcrypt::ProcessContext context{policy, lookup, encryptor, spool, boundaries, 0};
    const auto fields = mdcrypt::parse_header_block("DKIM-Signature: d=x; b=y\r\nSubject: secret\r\n\r\n").fields;

    for (const bool on : {true, false}) {
        CAPTURE(on);
        const std::vector<mdcrypt::RecipientDecision> recipients{encrypt_class(on ? "a@on.example" : "a@off.example")};
        mdcrypt::StringSource body("text\r\n");
        const auto result = mdcrypt::process_message(context, fields, body, recipients);
        REQUIRE(result.decision.action == mdcrypt::MessageDecision::Action::Encrypt);
        REQUIRE(result.encrypted);
        CHECK(result.header_protected == on);
        const auto outer = mdcrypt::apply_header_edits(fields, result.encrypted->header_edits);
        CHECK(mdcrypt::first_value(outer, "Subject") == (on ? "[...]" : "secret"));
        CHECK(mdcrypt::count_fields(outer, "DKIM-Signature") == 0);
        CHECK((encryptor.last_plaintext.find("hp=\"cipher\"") != std::string::npos) == on);
        CHECK((encryptor.last_plaintext.find("Subject: secret\r\n") != std::string::npos) == on);
        CHECK(encryptor.last_plaintext.find("DKIM-Signature") == std::string::npos);
    }
}

// --- Recipient entries and subaddresses ---

TEST_CASE("recipient entries win over their domain, compared case-insensitively after the subaddress") {
    Policy policy = make_policy({{"example.org", Mode::Opportunistic}, {"*.example.net", Mode::Off}});
    policy.recipients["boss@example.org"] = mdcrypt::DomainPolicy{Mode::Required};
    policy.recipients["ceo@example.com"] = mdcrypt::DomainPolicy{Mode::Required};
    const auto at = [](const char* text) { return *mdcrypt::parse_address(text); };

    CHECK(policy.for_recipient(at("boss@example.org"))->mode == Mode::Required);
    CHECK(policy.for_recipient(at("BOSS@Example.ORG"))->mode == Mode::Required);
    CHECK(policy.for_recipient(at("boss+lists@example.org"))->mode == Mode::Required);
    CHECK(policy.for_recipient(at("alice@example.org"))->mode == Mode::Opportunistic);
    CHECK(policy.for_recipient(at("x@a.example.net"))->mode == Mode::Off);
    CHECK(policy.for_recipient(at("ceo@example.com"))->mode == Mode::Required);  // local by its own entry
    CHECK_FALSE(policy.for_recipient(at("cfo@example.com")));

    CHECK(policy.entry_for(at("Boss+x@example.org"))->entry == "[recipient.\"boss@example.org\"]");
    CHECK(policy.entry_for(at("x@a.example.net"))->entry == "[domain.\"*.example.net\"]");

    policy.subaddress_delimiter = "";
    CHECK(policy.for_recipient(at("boss+lists@example.org"))->mode == Mode::Opportunistic);
    policy.subaddress_delimiter = "-+";
    CHECK(policy.lookup_address(at("Alice-Lists@Example.ORG")).full() == "Alice@example.org");
}

TEST_CASE("the key lookup gets the address without its subaddress, the decision keeps the one given") {
    Policy policy = make_policy({{"example.org", Mode::Opportunistic}});
    policy.recipients["boss@example.org"] = mdcrypt::DomainPolicy{Mode::Required};
    std::vector<std::string> asked;
    const mdcrypt::KeyLookupFn lookup = [&](std::string_view address, std::int64_t) {
        asked.emplace_back(address);
        return mdcrypt::KeyLookup{};  // NotFound
    };

    const auto alice = mdcrypt::classify_envelope_recipient(policy, "<Alice+Lists@Example.ORG>", lookup, 0);
    CHECK(asked == std::vector<std::string>{"Alice@example.org"});
    CHECK(alice.address == "Alice+Lists@example.org");
    CHECK(alice.cls == mdcrypt::RecipientClass::Plain);

    const auto boss = mdcrypt::classify_envelope_recipient(policy, "<boss+x@example.org>", lookup, 0);
    CHECK(asked.back() == "boss@example.org");
    CHECK(boss.mode == Mode::Required);
    CHECK(boss.cls == mdcrypt::RecipientClass::Refuse);
}

TEST_CASE("a recipient entry's header_protection decides for that recipient") {
    Policy policy = hp_policy();
    policy.recipients["boss@off.example"] = mdcrypt::DomainPolicy{Mode::Opportunistic, true};
    using V = std::vector<mdcrypt::RecipientDecision>;
    CHECK(mdcrypt::rewrite_options(policy, V{encrypt_class("boss+x@off.example", policy)}).header_protection);
    CHECK_FALSE(mdcrypt::rewrite_options(policy, V{encrypt_class("other@off.example")}).header_protection);
}

TEST_CASE("the decision carries each key's key block to the encryptor") {
    const Policy policy = make_policy({{"example.org", Mode::Opportunistic}});
    auto block = std::make_shared<const std::string>("key bytes");
    const mdcrypt::KeyLookupFn lookup = [&](std::string_view, std::int64_t) {
        return mdcrypt::KeyLookup{mdcrypt::KeyLookup::Status::Found, mdcrypt::UsableKey{"FPR1", 0, "file /k", block}, {}};
    };
    mdcrypt::testing::FakeEncryptor encryptor;
    const mdcrypt::SpoolSettings spool{std::filesystem::temp_directory_path(), 1 << 20};
    const mdcrypt::BoundaryGenerator boundaries = [] { return std::string("b.1"); };
    const mdcrypt::ProcessContext context{policy, lookup, encryptor, spool, boundaries, 0};
    const std::vector<mdcrypt::RecipientDecision> recipients{
        mdcrypt::classify_envelope_recipient(policy, "alice@example.org", lookup, 0)};
    CHECK(recipients[0].cls == mdcrypt::RecipientClass::Encrypt);
    mdcrypt::StringSource body("text\r\n");
    const auto result = mdcrypt::process_message(context, mdcrypt::parse_header_block("Subject: x\r\n\r\n").fields, body, recipients);
    REQUIRE(result.decision.action == mdcrypt::MessageDecision::Action::Encrypt);
    CHECK(result.decision.fingerprints == std::vector<std::string>{"FPR1"});
    REQUIRE(encryptor.last_keys.size() == 1);
    CHECK(encryptor.last_keys[0].fingerprint == "FPR1");
    CHECK(encryptor.last_keys[0].key_block == block);
}
