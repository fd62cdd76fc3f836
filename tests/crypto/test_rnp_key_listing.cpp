// The librnp key lister: user ID addresses as GPGME reads them, and a key with odd, revoked and
// address-less user IDs listed as gpg lists it. The matrix parity is in test_engine_parity.cpp.
#include "crypto/rnp_key_listing.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <tuple>

#include "crypto/key_index.hpp"
#include "server_home.hpp"

using namespace mdcrypt;
using namespace mdcrypt::test;

TEST_CASE("mailbox_from_user_id takes the address GPGME takes") {
    CHECK(mailbox_from_user_id("Alice <alice@example.test>") == "alice@example.test");
    CHECK(mailbox_from_user_id("Alice (work) <Alice.W@Example.TEST>") == "alice.w@example.test");
    CHECK(mailbox_from_user_id("bob@example.test") == "bob@example.test");
    CHECK(mailbox_from_user_id("Bob@Example.test") == "bob@example.test");
    CHECK(mailbox_from_user_id("No Address").empty());
    CHECK(mailbox_from_user_id("").empty());
    CHECK(mailbox_from_user_id("x <>").empty());
    CHECK(mailbox_from_user_id("x <@example.test>").empty());
    CHECK(mailbox_from_user_id("x <a@>").empty());
    CHECK(mailbox_from_user_id("x <a@b@example.test>").empty());
    CHECK(mailbox_from_user_id("x <a@example.test.>").empty());
    CHECK(mailbox_from_user_id("x <a@example..test>").empty());
    CHECK(mailbox_from_user_id("x <a b@example.test>").empty());
    CHECK(mailbox_from_user_id("x <a@example.test").empty());
    CHECK(mailbox_from_user_id("a..b@example.test").empty());  // bare: no ".." anywhere
    CHECK(mailbox_from_user_id("x <a..b@example.test>") == "a..b@example.test");  // in brackets: only after the '@'
    CHECK(mailbox_from_user_id("a b@example.test").empty());
}

TEST_CASE("librnp lists user IDs with odd, missing and revoked addresses as gpg does") {
    GnupgHome maker;
    const std::string primary_uid = "Mixed Case <Mixed.Case@Example.TEST>";
    REQUIRE(maker.gpg({"--batch", "--passphrase", "", "--quick-gen-key", primary_uid, "ed25519", "default", "never"}).ok());
    const ProcessResult listed = maker.gpg({"--with-colons", "--list-keys"});
    REQUIRE(listed.ok());
    const auto fpr_at = listed.out.find("\nfpr:");
    REQUIRE(fpr_at != std::string::npos);
    const std::string fingerprint = listed.out.substr(listed.out.find(":::::::::", fpr_at) + 9, 40);
    for (const char* uid : {"bare@example.test", "No Address", "Comment (here) <c@example.test>", "two <a@b@example.test>",
                            "dots <a@example..test>", "revoke me <gone@example.test>"})
        REQUIRE(maker.gpg({"--batch", "--passphrase", "", "--quick-add-uid", fingerprint, uid}).ok());
    REQUIRE(maker.gpg({"--batch", "--passphrase", "", "--quick-revoke-uid", fingerprint, "revoke me <gone@example.test>"}).ok());
    const ProcessResult exported = maker.gpg({"--export", fingerprint});
    REQUIRE(exported.ok());
    maker.kill_daemons();

    GnupgHome server;
    REQUIRE(server.gpg({"--batch", "--import"}, exported.out).ok());
    server.kill_daemons();
    KeyIndex by_gpg(server.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, KeyLister::Gpg);
    KeyIndex by_rnp(server.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, KeyLister::Rnp);
    const auto g = by_gpg.listed_keys(), r = by_rnp.listed_keys();
    REQUIRE(g.size() == 1);
    REQUIRE(r.size() == 1);
    REQUIRE(r[0].user_ids.size() == g[0].user_ids.size());
    REQUIRE(g[0].user_ids.size() == 7);
    // gpg lists the primary user ID first (with several made in one second, which one varies), librnp
    // in packet order. The order means nothing to assess_key, so the user IDs are compared as sets.
    const auto sorted = [](std::vector<UserIdFacts> uids) {
        std::sort(uids.begin(), uids.end(), [](const UserIdFacts& a, const UserIdFacts& b) {
            return std::tie(a.address, a.revoked, a.invalid) < std::tie(b.address, b.revoked, b.invalid);
        });
        return uids;
    };
    const auto gu = sorted(g[0].user_ids), ru = sorted(r[0].user_ids);
    for (std::size_t i = 0; i < gu.size(); ++i) {
        CAPTURE(i, gu[i].address, ru[i].address);
        CHECK(ru[i].address == gu[i].address);
        CHECK(ru[i].revoked == gu[i].revoked);
        CHECK(ru[i].invalid == gu[i].invalid);
    }
    const std::int64_t now = now_seconds();
    for (const char* address : {"mixed.case@example.test", "bare@example.test", "c@example.test", "gone@example.test"}) {
        const KeyLookup a = by_gpg.lookup(address, now), b = by_rnp.lookup(address, now);
        CAPTURE(address, a.reason, b.reason);
        CHECK(b.status == a.status);
        CHECK(b.reason == a.reason);
    }
    CHECK(by_rnp.lookup("gone@example.test", now).status == KeyLookup::Status::NotFound);  // its user ID is revoked
}
