// KeyIndex against real gpg (and, where marked by a GENERATE, with the librnp lister too): which keys are usable, what the reasons say, when the index is rebuilt and
// how many gpg processes that costs. Plus the pure mapping from gpgme's key structures.
#include "crypto/key_index.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "gpg_process_counter.hpp"
#include "gpg_fault.hpp"
#include "server_home.hpp"

using namespace mdcrypt;
using namespace mdcrypt::test;
using Status = KeyLookup::Status;

namespace {

const TestKey& key(const char* name) { return TestKeys::get()[name]; }

}  // namespace

TEST_CASE("usable keys are found by address, case-insensitively") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);

    const KeyLookup alice = index.lookup("alice@example.test", now_seconds());
    REQUIRE(alice.status == Status::Found);
    CHECK(alice.key->fingerprint == key("alice").fingerprint);
    CHECK(alice.key->expires == 0);
    CHECK(alice.key->source == "keyring " + home.path().string());

    const KeyLookup bob = index.lookup("Bob@Example.TEST", now_seconds());
    REQUIRE(bob.status == Status::Found);
    CHECK(bob.key->fingerprint == key("bob").fingerprint);
}

TEST_CASE("expired, revoked and sign-only keys are no key, and the reason names the fingerprint") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    const auto now = now_seconds();

    const KeyLookup expired = index.lookup(key("expired").address, now);
    CHECK(expired.status == Status::NotFound);
    CHECK_FALSE(expired.key);
    CHECK_THAT(expired.reason, Catch::Contains(key("expired").fingerprint) && Catch::Contains("expired"));

    const KeyLookup revoked = index.lookup(key("revoked").address, now);
    CHECK(revoked.status == Status::NotFound);
    CHECK_THAT(revoked.reason, Catch::Contains(key("revoked").fingerprint) && Catch::Contains("revoked"));

    const KeyLookup signonly = index.lookup(key("signonly").address, now);
    CHECK(signonly.status == Status::NotFound);
    CHECK_THAT(signonly.reason,
               Catch::Contains(key("signonly").fingerprint) && Catch::Contains("no encryption-capable subkey"));
}

TEST_CASE("an unknown address is not found") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    const KeyLookup nobody = index.lookup("nobody@example.test", now_seconds());
    CHECK(nobody.status == Status::NotFound);
    CHECK_THAT(nobody.reason, Catch::Contains("no key for nobody@example.test"));
    // Not a prefix or substring match either.
    CHECK(index.lookup("lice@example.test", now_seconds()).status == Status::NotFound);
    CHECK(index.lookup("alice@example", now_seconds()).status == Status::NotFound);
}

TEST_CASE("keys are judged at the time the caller gives") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    // The expired key was made on 2020-01-01 with a one-day lifetime.
    constexpr std::int64_t jan_1_2020_noon = 1577880000;
    const KeyLookup then = index.lookup(key("expired").address, jan_1_2020_noon);
    REQUIRE(then.status == Status::Found);
    CHECK(then.key->fingerprint == key("expired").fingerprint);
    CHECK(then.key->expires > jan_1_2020_noon);
}

TEST_CASE("usable_key_count counts alice and bob") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    CHECK(index.usable_key_count(now_seconds()) == 2);
}

TEST_CASE("an empty home has no keys and is not an error") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    GnupgHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    CHECK(index.lookup("alice@example.test", now_seconds()).status == Status::NotFound);
    CHECK(index.usable_key_count(now_seconds()) == 0);
}

TEST_CASE("a failed key listing is an error with gpg's reason, never not-found") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    REQUIRE(index.lookup("alice@example.test", now_seconds()).status == Status::Found);

    // A keyring gpg cannot read.
    std::filesystem::remove(home.path() / "pubring.kbx");
    write_private_file(home.path() / "pubring.kbx", std::string(4096, 'x'));
    const KeyLookup broken = index.lookup("alice@example.test", now_seconds());
    CHECK(broken.status == Status::Error);
    CHECK_FALSE(broken.key);
    CHECK_THAT(broken.reason, Catch::Contains(home.path().string()));
    CHECK_THROWS_AS(index.usable_key_count(now_seconds()), KeyListError);
}

TEST_CASE("a home that does not exist is refused at construction") {
    TempDir dir;
    CHECK_THROWS_AS(KeyIndex(dir.path() / "missing", TrustModel::ServerKeyring), GpgmeInitError);
}

TEST_CASE("a key imported later is found by the next lookup, without a restart") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);

    CHECK(index.lookup(key("carol").address, now_seconds()).status == Status::NotFound);
    home.import(key("carol").public_file);
    const KeyLookup carol = index.lookup(key("carol").address, now_seconds());
    REQUIRE(carol.status == Status::Found);
    CHECK(carol.key->fingerprint == key("carol").fingerprint);
}

TEST_CASE("a revocation imported later makes the key unusable at the next lookup") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    GnupgHome home;
    const auto& revoked = key("revoked");
    home.import(revoked.public_file.parent_path() / "revoked.unrevoked.pub.asc");
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    REQUIRE(index.lookup(revoked.address, now_seconds()).status == Status::Found);

    home.import(revoked.public_file);  // carries the revocation
    const KeyLookup after = index.lookup(revoked.address, now_seconds());
    CHECK(after.status == Status::NotFound);
    CHECK_THAT(after.reason, Catch::Contains("revoked"));
}

TEST_CASE("a deleted key is gone at the next lookup") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    REQUIRE(index.lookup("alice@example.test", now_seconds()).status == Status::Found);
    const ProcessResult deleted = home.gpg({"--yes", "--delete-keys", key("alice").fingerprint});
    REQUIRE(deleted.ok());
    CHECK(index.lookup("alice@example.test", now_seconds()).status == Status::NotFound);
}

TEST_CASE("gpg processes: one keylist builds the index, lookups start none, a keyring change one more") {
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, counting_gpg());
    GpgProcessCounter counter;  // after construction: the engine's one-time `gpg --version` is not counted

    REQUIRE(index.lookup("alice@example.test", now_seconds()).status == Status::Found);
    const auto build = counter.processes();
    REQUIRE(build.size() == 1);
    CHECK_THAT(build[0], Catch::Contains("--list-keys"));

    counter.reset();
    for (int i = 0; i < 200; ++i) {
        CHECK(index.lookup(i % 2 ? "alice@example.test" : "BOB@example.test", now_seconds()).status == Status::Found);
        CHECK(index.lookup("nobody@example.test", now_seconds()).status == Status::NotFound);
    }
    CHECK(index.usable_key_count(now_seconds()) == 2);
    CHECK(counter.count() == 0);

    home.import(key("carol").public_file);
    counter.reset();
    CHECK(index.lookup(key("carol").address, now_seconds()).status == Status::Found);
    CHECK(counter.count() == 1);
    counter.reset();
    CHECK(index.lookup(key("carol").address, now_seconds()).status == Status::Found);
    CHECK(counter.count() == 0);
}

TEST_CASE("concurrent lookups share one rebuild") {
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, counting_gpg());
    GpgProcessCounter counter;

    std::atomic<int> found{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            while (!go) std::this_thread::yield();
            for (int i = 0; i < 100; ++i)
                if (index.lookup("alice@example.test", now_seconds()).status == Status::Found) ++found;
        });
    go = true;
    for (auto& t : threads) t.join();
    CHECK(found == 400);
    CHECK(counter.count() == 1);
}

TEST_CASE("trust model gnupg: only keys with full validity are usable") {
    ServerHome home;
    home.set_ownertrust(key("alice").fingerprint, 6);  // ultimate: alice's user IDs become fully valid

    KeyIndex trustdb(home.path(), TrustModel::GnupgTrustDb);
    const auto now = now_seconds();
    const KeyLookup alice = trustdb.lookup("alice@example.test", now);
    REQUIRE(alice.status == Status::Found);
    CHECK(alice.key->fingerprint == key("alice").fingerprint);

    const KeyLookup bob = trustdb.lookup("bob@example.test", now);
    CHECK(bob.status == Status::NotFound);
    CHECK_THAT(bob.reason, Catch::Contains(key("bob").fingerprint) && Catch::Contains("below full validity"));
    CHECK(trustdb.usable_key_count(now) == 1);

    KeyIndex server(home.path(), TrustModel::ServerKeyring);
    CHECK(server.lookup("bob@example.test", now).status == Status::Found);
}

// The pure mapping, on hand-built gpgme structures.
namespace {

struct FakeKey {
    _gpgme_key key{};
    _gpgme_subkey primary{};
    _gpgme_subkey encryption{};
    _gpgme_user_id uid{};
    char fpr[41] = "0123456789ABCDEF0123456789ABCDEF01234567";
    char address[32] = "Alice@Example.test";

    FakeKey() {
        key.fpr = fpr;
        key.subkeys = &primary;
        primary.next = &encryption;
        primary.fpr = fpr;
        primary.can_sign = 1;
        encryption.can_encrypt = 1;
        key.uids = &uid;
        uid.address = address;
        uid.validity = GPGME_VALIDITY_UNKNOWN;
    }
};

}  // namespace

TEST_CASE("key_facts_from_gpgme maps gpgme's flags faithfully") {
    FakeKey k;
    k.primary.expires = 2000;
    k.encryption.expires = 3000;
    k.encryption.revoked = 1;
    k.key.disabled = 1;
    k.uid.revoked = 1;

    const KeyFacts facts = key_facts_from_gpgme(k.key, TrustModel::ServerKeyring, "keyring /h");
    CHECK(facts.fingerprint == k.fpr);
    CHECK(facts.source == "keyring /h");
    CHECK(facts.disabled);
    CHECK_FALSE(facts.revoked);
    CHECK(facts.expires == 2000);
    REQUIRE(facts.subkeys.size() == 2);
    CHECK_FALSE(facts.subkeys[0].can_encrypt);  // the primary key comes first
    CHECK(facts.subkeys[0].expires == 2000);
    CHECK(facts.subkeys[1].can_encrypt);
    CHECK(facts.subkeys[1].revoked);
    CHECK(facts.subkeys[1].expires == 3000);
    REQUIRE(facts.user_ids.size() == 1);
    CHECK(facts.user_ids[0].address == "Alice@Example.test");
    CHECK(facts.user_ids[0].revoked);
}

TEST_CASE("key_facts_from_gpgme: a usable key stays usable under the server keyring model") {
    FakeKey k;
    const KeyFacts facts = key_facts_from_gpgme(k.key, TrustModel::ServerKeyring, "s");
    const KeyAssessment a = assess_key(facts, "alice@example.test", 1000);
    REQUIRE(a.key);
    CHECK(a.key->fingerprint == k.fpr);
}

TEST_CASE("key_facts_from_gpgme: under the trust database model validity below full makes a user ID invalid") {
    FakeKey k;
    for (auto validity : {GPGME_VALIDITY_UNKNOWN, GPGME_VALIDITY_UNDEFINED, GPGME_VALIDITY_NEVER, GPGME_VALIDITY_MARGINAL}) {
        k.uid.validity = validity;
        const KeyFacts facts = key_facts_from_gpgme(k.key, TrustModel::GnupgTrustDb, "s");
        CHECK(facts.user_ids[0].invalid);
        CHECK_FALSE(assess_key(facts, "alice@example.test", 1000).key);
    }
    for (auto validity : {GPGME_VALIDITY_FULL, GPGME_VALIDITY_ULTIMATE}) {
        k.uid.validity = validity;
        const KeyFacts facts = key_facts_from_gpgme(k.key, TrustModel::GnupgTrustDb, "s");
        CHECK_FALSE(facts.user_ids[0].invalid);
        CHECK(assess_key(facts, "alice@example.test", 1000).key);
    }
}

TEST_CASE("key_facts_from_gpgme: expired without a date, invalid and missing fields") {
    FakeKey k;
    k.encryption.expired = 1;  // gpg says expired but gives no date: not trusted to be usable
    k.key.invalid = 1;
    k.key.fpr = nullptr;  // older GPGME: the primary subkey's fingerprint is used
    k.uid.address = nullptr;
    const KeyFacts facts = key_facts_from_gpgme(k.key, TrustModel::ServerKeyring, "s");
    CHECK(facts.fingerprint == k.fpr);
    CHECK(facts.invalid);
    CHECK(facts.subkeys[1].invalid);
    CHECK(facts.user_ids[0].address.empty());
}

TEST_CASE("diagnostics_report_failure tells gpg's keyring errors from its notes") {
    const std::string home = "/var/lib/failed-keys/gnupg";  // words in the home's path do not count
    CHECK_FALSE(diagnostics_report_failure("", home));
    CHECK_FALSE(diagnostics_report_failure("gpg: WARNING: unsafe permissions on homedir '" + home + "'", home));
    CHECK_FALSE(diagnostics_report_failure(
        "gpg: checking the trustdb; gpg: marginals needed: 3  completes needed: 1  trust model: pgp; "
        "gpg: depth: 0  valid:   1  signed:   0  trust: 0-, 0q, 0n, 0m, 0f, 1u; gpg: no ultimately trusted keys found",
        home));
    CHECK(diagnostics_report_failure("gpg: [don't know]: invalid packet (ctb=78); gpg: keydb_search_first failed: Invalid packet", home));
    CHECK(diagnostics_report_failure("gpg: Fatal: can't open '" + home + "/trustdb.gpg': Permission denied", home));
    CHECK(diagnostics_report_failure("gpg: keyblock resource '" + home + "/pubring.kbx': Permission Denied", home));
}

TEST_CASE("trust model gnupg: once built, lookups start no gpg either") {
    ServerHome home;
    home.set_ownertrust(key("alice").fingerprint, 6);
    KeyIndex index(home.path(), TrustModel::GnupgTrustDb, counting_gpg());
    GpgProcessCounter counter;
    REQUIRE(index.lookup("alice@example.test", now_seconds()).status == Status::Found);
    CHECK(counter.count() == 1);
    counter.reset();
    for (int i = 0; i < 20; ++i) CHECK(index.lookup("alice@example.test", now_seconds()).status == Status::Found);
    CHECK(counter.count() == 0);  // the listing did not rewrite the trust database behind our back
}

// A keyring that cannot be fully read, or a gpg that does not finish its listing, must defer mail
// (Error), never read as "no key": each of these once passed a keyed recipient's mail in plain text.
namespace {

std::string keybox_of(const GnupgHome& home) { return read_file(home.path() / "pubring.kbx"); }

void replace_keyring(const GnupgHome& home, const std::string& name, const std::string& bytes) {
    std::filesystem::remove(home.path() / name);
    write_private_file(home.path() / name, bytes);
}

// The first blob's length field made huge: kbxutil calls it a "long blob", gpg skips it and every
// blob after it, lists nothing and exits 0.
std::string with_long_first_blob(std::string kbx) {
    kbx.replace(32, 4, std::string("\x7f\xff\xff\xff", 4));
    return kbx;
}

void record_expected_keys(const GnupgHome& home, const std::vector<const char*>& names) {
    std::string text;
    for (const char* name : names) text += key(name).fingerprint + " " + key(name).address + "\n";
    std::filesystem::remove(home.path() / "mdcrypt-expected-keys");
    write_private_file(home.path() / "mdcrypt-expected-keys", text);
}

void require_error_for_alice(KeyIndex& index, const std::string& words) {
    const KeyLookup alice = index.lookup("alice@example.test", now_seconds());
    INFO(alice.reason);
    CHECK(alice.status == Status::Error);
    CHECK_FALSE(alice.key);
    CHECK_THAT(alice.reason, Catch::Contains(words));
}

}  // namespace

TEST_CASE("a keybox whose blobs gpg cannot parse is an error, though gpg lists nothing and exits 0") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    REQUIRE(index.lookup("alice@example.test", now_seconds()).status == Status::Found);

    replace_keyring(home, "pubring.kbx", with_long_first_blob(keybox_of(home)));
    // The fail-open this guards against: the real gpg says nothing is wrong.
    const ProcessResult listing = home.gpg({"--with-colons", "--list-keys"});
    REQUIRE(listing.ok());
    REQUIRE(listing.out.find("pub:") == std::string::npos);

    require_error_for_alice(index, "pubring.kbx is damaged");
    CHECK(index.lookup("nobody@example.test", now_seconds()).status == Status::Error);  // no verdict from a broken keyring
    CHECK_THROWS_AS(index.usable_key_count(now_seconds()), KeyListError);
}

TEST_CASE("a truncated or zero-length keybox is an error") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    const std::string kbx = keybox_of(home);
    REQUIRE(index.lookup("alice@example.test", now_seconds()).status == Status::Found);

    replace_keyring(home, "pubring.kbx", kbx.substr(0, kbx.size() / 2));
    require_error_for_alice(index, "cut off");
    replace_keyring(home, "pubring.kbx", "");
    require_error_for_alice(index, "zero bytes");

    replace_keyring(home, "pubring.kbx", kbx);  // restored: found again, nothing was cached
    CHECK(index.lookup("alice@example.test", now_seconds()).status == Status::Found);
}

TEST_CASE("a keybox cut to its header or deleted defers the addresses the expected-keys file names") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    record_expected_keys(home, {"alice", "bob"});
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    REQUIRE(index.lookup("alice@example.test", now_seconds()).status == Status::Found);
    const std::string kbx = keybox_of(home);

    SECTION("cut to its 32-byte header") { replace_keyring(home, "pubring.kbx", kbx.substr(0, 32)); }
    SECTION("deleted while the index is in use") { std::filesystem::remove(home.path() / "pubring.kbx"); }

    require_error_for_alice(index, "mdcrypt-expected-keys but missing from the keyring");
    CHECK_THAT(index.lookup("alice@example.test", now_seconds()).reason, Catch::Contains(key("alice").fingerprint));
    CHECK(index.lookup("bob@example.test", now_seconds()).status == Status::Error);
    // Addresses nobody recorded had no key before either.
    CHECK(index.lookup(key("carol").address, now_seconds()).status == Status::NotFound);
}

TEST_CASE("the expected-keys file: a key removed on purpose is removed from it, a damaged file is an error") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    record_expected_keys(home, {"alice", "bob"});
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    REQUIRE(home.gpg({"--yes", "--delete-keys", key("alice").fingerprint}).ok());
    require_error_for_alice(index, "missing from the keyring");

    record_expected_keys(home, {"bob"});  // what mdcrypt-keys remove does
    CHECK(index.lookup("alice@example.test", now_seconds()).status == Status::NotFound);
    CHECK(index.lookup("bob@example.test", now_seconds()).status == Status::Found);

    std::filesystem::remove(home.path() / "mdcrypt-expected-keys");
    write_private_file(home.path() / "mdcrypt-expected-keys", "not a fingerprint\n");
    CHECK(index.lookup("bob@example.test", now_seconds()).status == Status::Error);
}

TEST_CASE("without an expected-keys file, a keyring that suddenly lists no keys defers the addresses it lost") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome home;
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    REQUIRE(index.lookup("alice@example.test", now_seconds()).status == Status::Found);
    const std::string kbx = keybox_of(home);

    replace_keyring(home, "pubring.kbx", kbx.substr(0, 32));
    require_error_for_alice(index, "now lists 0 keys where it listed 5");
    CHECK(index.lookup(key("carol").address, now_seconds()).status == Status::NotFound);

    replace_keyring(home, "pubring.kbx", kbx);
    CHECK(index.lookup("alice@example.test", now_seconds()).status == Status::Found);

    // What cannot be known: a process that starts on the emptied keyring never saw the keys.
    replace_keyring(home, "pubring.kbx", kbx.substr(0, 32));
    KeyIndex restarted(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    CHECK(restarted.lookup("alice@example.test", now_seconds()).status == Status::NotFound);
}

TEST_CASE("a legacy pubring.gpg home: damage is an error too") {
    const KeyLister lister = GENERATE(KeyLister::Gpg, KeyLister::Rnp);
    CAPTURE(to_string(lister));
    ServerHome source;
    GnupgHome home;
    const ProcessResult exported = source.gpg({"--export"});
    REQUIRE(exported.ok());
    std::filesystem::remove(home.path() / "pubring.kbx");
    replace_keyring(home, "pubring.gpg", exported.out);
    KeyIndex index(home.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, lister);
    REQUIRE(index.lookup("alice@example.test", now_seconds()).status == Status::Found);
    REQUIRE_FALSE(std::filesystem::exists(home.path() / "pubring.kbx"));  // gpg really read pubring.gpg

    SECTION("truncated") {
        replace_keyring(home, "pubring.gpg", exported.out.substr(0, exported.out.size() - 100));
        require_error_for_alice(index, "pubring.gpg is damaged");
    }
    SECTION("zero length") {
        replace_keyring(home, "pubring.gpg", "");
        require_error_for_alice(index, "zero bytes");
    }
    SECTION("bytes after the last key that are no packet") {
        replace_keyring(home, "pubring.gpg", exported.out + std::string(3, '\x00'));
        require_error_for_alice(index, "not an OpenPGP packet");
    }
}

TEST_CASE("a gpg that dies or fails while listing is an error, and the failure is not cached") {
    const auto fault_name = GENERATE(as<std::string>{}, "sigkill", "sigsegv", "oops", "partial");
    ServerHome home;
    GpgFault fault(fault_name);
    KeyIndex index(home.path(), TrustModel::ServerKeyring, fault_gpg());
    INFO("fault " << fault_name);
    require_error_for_alice(index, "listing the keys in GnuPG home");
    require_error_for_alice(index, "listing the keys in GnuPG home");  // asked again, fails again

    fault.set("none");  // gpg is healthy again: the next lookup lists again
    const KeyLookup healed = index.lookup("alice@example.test", now_seconds());
    CHECK(healed.status == Status::Found);
}

TEST_CASE("a key listing that hangs is killed at the timeout: an error, never no key") {
    ServerHome home;
    GpgFault fault("hang");
    KeyIndex index(home.path(), TrustModel::ServerKeyring, fault_gpg(), std::chrono::seconds(1));
    require_error_for_alice(index, "did not finish within 1 s");
    const auto pid = fault.hung_pid();
    REQUIRE(pid);
    CHECK(process_ends(*pid));

    fault.set("none");
    CHECK(index.lookup("alice@example.test", now_seconds()).status == Status::Found);
}
