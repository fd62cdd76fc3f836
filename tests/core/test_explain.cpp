#include "core/explain.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace mdcrypt;
using Status = KeyLookup::Status;

namespace {

Policy example_policy() {
    Policy policy;
    policy.defaults.mode_from = "[default]";
    policy.domains["example.org"] = DomainPolicy{Mode::Opportunistic, true, "[domain.\"example.org\"]"};
    policy.domains["quiet.example"] = DomainPolicy{Mode::Off, true, "[domain.\"quiet.example\"]"};
    policy.recipients["boss@example.org"] = DomainPolicy{Mode::Required, true, "[recipient.\"boss@example.org\"]"};
    return policy;
}

// Sources that record the address they were asked for.
struct FakeSources {
    std::vector<std::string> asked;
    std::vector<SourceAnswer> answers;
    KeyTraceFn fn() {
        return [this](std::string_view address, std::int64_t) {
            asked.emplace_back(address);
            KeyTrace t;
            t.answers = answers;
            t.result = combine_answers(t.answers, &t.used);
            return t;
        };
    }
};

}  // namespace

TEST_CASE("explain: a recipient entry, the subaddress removed, each source's answer and the class") {
    const Policy policy = example_policy();
    FakeSources sources;
    sources.answers = {{"keyring", {Status::NotFound, std::nullopt, "no key for boss@example.org in keyring /home"}},
                       {"file", {Status::Found, UsableKey{"F1LE", 1893456000, "file /var/vmail/example.org/boss/.pgp/pubkey.asc"}, {}}},
                       {"wkd", {Status::Found, UsableKey{"W1KD", 0, "wkd /srv/openpgpkey/example.org/hu/x"}, {}}}};
    const Explanation e = explain_recipient(policy, "<Boss+Lists@Example.ORG>", sources.fn(), 0);
    CHECK(sources.asked == std::vector<std::string>{"Boss@example.org"});
    CHECK(e.decision.cls == RecipientClass::Encrypt);
    CHECK(e.decision.address == "Boss+Lists@example.org");  // as the MTA gave it
    CHECK_THAT(e.text, Catch::Contains("local: yes, by [recipient.\"boss@example.org\"]"));
    CHECK_THAT(e.text, Catch::Contains("mode: required (set by [recipient.\"boss@example.org\"])"));
    CHECK_THAT(e.text, Catch::Contains("split: per-class (shares a copy with other encrypted recipients), "
                                       "refusal: permanent (550 5.7.1)"));
    CHECK_THAT(e.text, Catch::Contains("keys for: Boss@example.org (subaddress removed)"));
    CHECK_THAT(e.text, Catch::Contains("source 1 keyring: no usable key: no key for boss@example.org in keyring /home"));
    CHECK_THAT(e.text, Catch::Contains("source 2 file: key F1LE, expires 2030-01-01 00:00:00 UTC, from file "
                                       "/var/vmail/example.org/boss/.pgp/pubkey.asc [used]"));
    CHECK_THAT(e.text, Catch::Contains("source 3 wkd: key W1KD, expires never") && Catch::Contains("an earlier source decided"));
    CHECK_THAT(e.text, Catch::EndsWith("class: encrypt (usable key F1LE)\n"));
}

TEST_CASE("explain: the domain entry, the mode's origin, refusal and deferral") {
    Policy policy = example_policy();
    policy.domains["example.org"].mode_from = "[default]";  // the domain entry left mode out
    FakeSources none;
    none.answers = {{"keyring", {Status::NotFound, std::nullopt, "no key for alice@example.org in keyring /home"}}};
    const Explanation plain = explain_recipient(policy, "alice@example.org", none.fn(), 0);
    CHECK(plain.decision.cls == RecipientClass::Plain);
    CHECK_THAT(plain.text, Catch::Contains("local: yes, by [domain.\"example.org\"]") &&
                               Catch::Contains("mode: opportunistic (set by [default])") &&
                               Catch::Contains("keys for: alice@example.org\n") && Catch::Contains("class: plain"));

    const Explanation refused = explain_recipient(policy, "boss@example.org", none.fn(), 0);
    CHECK(refused.decision.cls == RecipientClass::Refuse);
    CHECK_THAT(refused.text, Catch::Contains("class: refuse (encryption required but no usable key"));

    FakeSources failing;
    failing.answers = {{"keyring", {Status::Error, std::nullopt, "gpg: keydb_search failed"}},
                       {"file", {Status::Found, UsableKey{"F1LE", 0, "file /f"}, {}}}};
    const Explanation deferred = explain_recipient(policy, "alice@example.org", failing.fn(), 0);
    CHECK(deferred.decision.cls == RecipientClass::Defer);
    CHECK_THAT(deferred.text, Catch::Contains("source 1 keyring: FAILED: gpg: keydb_search failed [decides]") &&
                                  Catch::Contains("class: defer"));
}

TEST_CASE("explain: not local, mode off and unparsable addresses consult no key source") {
    const Policy policy = example_policy();
    FakeSources sources;
    const Explanation remote = explain_recipient(policy, "someone@example.com", sources.fn(), 0);
    CHECK_THAT(remote.text, Catch::Contains("local: no (neither example.com nor the address is listed") &&
                                Catch::Contains("class: plain (not a local domain)"));
    const Explanation off = explain_recipient(policy, "x@quiet.example", sources.fn(), 0);
    CHECK_THAT(off.text, Catch::Contains("mode: off") && Catch::Contains("key sources: not consulted (mode off)"));
    const Explanation bad = explain_recipient(policy, "no-domain", sources.fn(), 0);
    CHECK_THAT(bad.text, Catch::Contains("local: no (not an address with a domain)"));
    CHECK(sources.asked.empty());
}

TEST_CASE("expiry dates are shown in UTC") {
    CHECK(format_expiry(0) == "never");
    CHECK(format_expiry(1577923200) == "2020-01-02 00:00:00 UTC");
}
