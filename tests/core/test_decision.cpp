#include "core/decision.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;
using Status = KeyLookup::Status;
using Action = MessageDecision::Action;

namespace {

KeyLookup found(const char* fpr) { return {Status::Found, UsableKey{fpr, 0, "keyring"}, {}}; }
KeyLookup missing() { return {Status::NotFound, std::nullopt, "no key for x"}; }
KeyLookup failed() { return {Status::Error, std::nullopt, "keyring unreadable"}; }

}  // namespace

TEST_CASE("classify_recipient: local x mode x key, as in the README's table", "[decision]") {
    struct Row {
        bool local;
        Mode mode;
        KeyLookup lookup;
        RecipientClass expected;
    };
    const Row rows[] = {
        {false, Mode::Required, found("F"), RecipientClass::Plain},
        {true, Mode::Off, found("F"), RecipientClass::Plain},
        {true, Mode::Off, failed(), RecipientClass::Plain},
        {true, Mode::Opportunistic, found("F"), RecipientClass::Encrypt},
        {true, Mode::Opportunistic, missing(), RecipientClass::Plain},
        {true, Mode::Opportunistic, failed(), RecipientClass::Defer},
        {true, Mode::Required, found("F"), RecipientClass::Encrypt},
        {true, Mode::Required, missing(), RecipientClass::Refuse},
        {true, Mode::Required, failed(), RecipientClass::Defer},
    };
    for (const auto& row : rows) {
        const std::optional<DomainPolicy> policy = row.local ? std::optional<DomainPolicy>(DomainPolicy{row.mode}) : std::nullopt;
        const RecipientDecision d = classify_recipient("alice@example.test", policy, row.lookup);
        INFO("local=" << row.local << " mode=" << to_string(row.mode) << " lookup=" << static_cast<int>(row.lookup.status));
        CHECK(d.cls == row.expected);
        CHECK(d.local == row.local);
        CHECK(d.key.has_value() == (row.expected == RecipientClass::Encrypt));
        CHECK_FALSE(d.reason.empty());
    }
}

TEST_CASE("decide_message: one body must suit every recipient", "[decision]") {
    auto r = [](const char* address, RecipientClass cls, const char* fpr = nullptr) {
        RecipientDecision d;
        d.address = address;
        d.cls = cls;
        if (fpr) d.key = UsableKey{fpr, 0, "keyring"};
        d.reason = "because";
        return d;
    };
    SECTION("all encrypt: one encryption to every distinct key") {
        const std::vector<RecipientDecision> v{r("a@x", RecipientClass::Encrypt, "FA"), r("b@x", RecipientClass::Encrypt, "FB"),
                                               r("a+tag@x", RecipientClass::Encrypt, "FA")};
        const MessageDecision m = decide_message(v);
        CHECK(m.action == Action::Encrypt);
        CHECK(m.fingerprints == std::vector<std::string>{"FA", "FB"});
    }
    SECTION("all plain: passed unchanged") {
        const std::vector<RecipientDecision> v{r("a@x", RecipientClass::Plain), r("b@y", RecipientClass::Plain)};
        CHECK(decide_message(v).action == Action::Pass);
    }
    SECTION("a mix of encrypt and plain never yields one form for both") {
        const std::vector<RecipientDecision> v{r("a@x", RecipientClass::Encrypt, "FA"), r("c@y", RecipientClass::Plain)};
        const MessageDecision m = decide_message(v);
        CHECK(m.action == Action::Defer);
        CHECK_THAT(m.reason, Catch::Contains("a@x") && Catch::Contains("c@y"));
        CHECK(m.fingerprints.empty());
        CHECK(m.mixed);
    }
    SECTION("required without key rejects, naming the address") {
        const std::vector<RecipientDecision> v{r("a@x", RecipientClass::Encrypt, "FA"), r("boss@x", RecipientClass::Refuse)};
        const MessageDecision m = decide_message(v);
        CHECK(m.action == Action::Reject);
        CHECK_THAT(m.reason, Catch::StartsWith("boss@x"));
    }
    SECTION("required without key and refusal = temporary tempfails instead") {
        auto boss = r("boss@x", RecipientClass::Refuse);
        boss.refusal = Refusal::Temporary;
        const std::vector<RecipientDecision> v{boss};
        const MessageDecision m = decide_message(v);
        CHECK(m.action == Action::Defer);
        CHECK_THAT(m.reason, Catch::StartsWith("boss@x"));
    }
    SECTION("split = per-recipient: a recipient never shares a copy with another key") {
        auto a = r("a@x", RecipientClass::Encrypt, "FA");
        a.split = Split::PerRecipient;
        const std::vector<RecipientDecision> shared{a, r("b@x", RecipientClass::Encrypt, "FB")};
        const MessageDecision m = decide_message(shared);
        CHECK(m.action == Action::Defer);
        CHECK(m.fingerprints.empty());
        CHECK_THAT(m.reason, Catch::Contains("a@x") && Catch::Contains("b@x") && Catch::Contains("per-recipient"));
        CHECK(m.mixed);
        auto a_tag = r("a+tag@x", RecipientClass::Encrypt, "FA");
        a_tag.split = Split::PerRecipient;
        const std::vector<RecipientDecision> same_key{a, a_tag};
        CHECK(decide_message(same_key).action == Action::Encrypt);
        const std::vector<RecipientDecision> alone{a};
        CHECK(decide_message(alone).action == Action::Encrypt);
    }
    SECTION("a failed lookup defers the whole message, ahead of a refusal") {
        const std::vector<RecipientDecision> v{r("boss@x", RecipientClass::Refuse), r("a@x", RecipientClass::Defer)};
        CHECK(decide_message(v).action == Action::Defer);
    }
    SECTION("no recipients is not a pass") {
        CHECK(decide_message({}).action == Action::Defer);
    }
}

TEST_CASE("passes_when_already_encrypted: ciphertext suits every recipient but one whose lookup failed", "[decision]") {
    auto r = [](const char* address, RecipientClass cls) {
        RecipientDecision d;
        d.address = address;
        d.cls = cls;
        return d;
    };
    for (const auto cls : {RecipientClass::Encrypt, RecipientClass::Refuse}) {
        const std::vector<RecipientDecision> v{r("a@x", cls), r("c@y", RecipientClass::Plain)};
        CHECK(passes_when_already_encrypted(decide_message(v), v));
    }
    const std::vector<RecipientDecision> deferred{r("a@x", RecipientClass::Encrypt), r("b@x", RecipientClass::Defer)};
    CHECK_FALSE(passes_when_already_encrypted(decide_message(deferred), deferred));
    const std::vector<RecipientDecision> plain{r("c@y", RecipientClass::Plain)};
    CHECK_FALSE(passes_when_already_encrypted(decide_message(plain), plain));  // passed anyway: no inspection
    CHECK_FALSE(passes_when_already_encrypted(decide_message({}), {}));
}
