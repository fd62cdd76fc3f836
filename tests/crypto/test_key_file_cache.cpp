// KeyFileCache against real gpg: keys read from files without importing them, the same validity rules
// as keyring keys, reasons that name the path, and the gpg processes it costs (one per new or changed
// file, none for an unchanged one).
#include "crypto/key_file_cache.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/openpgp_keys.hpp"
#include "gpg_process_counter.hpp"
#include "gpg_fault.hpp"
#include "server_home.hpp"

using namespace mdcrypt;
using namespace mdcrypt::test;
using Status = KeyLookup::Status;
namespace fs = std::filesystem;

namespace {

const TestKey& key(const char* name) { return TestKeys::get()[name]; }

std::string armored(const char* name) { return read_file(key(name).public_file); }

// The key in binary form, as a WKD server serves it.
std::string binary(const char* name) {
    const SplitKeys split = split_public_keys(armored(name));
    REQUIRE(split.ok());
    REQUIRE(split.keys.size() == 1);
    return split.keys[0].packets;
}

// Replaces `file` with new contents (a new inode, as editors and `mv` do).
void replace_file(const fs::path& file, std::string_view data) {
    const fs::path tmp = file.string() + ".new";
    write_private_file(tmp, data);
    fs::rename(tmp, file);
}

// The server's home: no keys, the keys are only in files. With a trust database, as any home that gpg
// has listed once has: without one, gpg stops with "Fatal: can't open trustdb.gpg" on the first
// expired or revoked key it is shown (a failure, tested below).
struct ServerHomeWithoutKeys : GnupgHome {
    ServerHomeWithoutKeys() {
        if (!gpg({"--check-trustdb"}).ok() && !std::filesystem::exists(path() / "trustdb.gpg"))
            throw std::runtime_error("gpg --check-trustdb made no trust database");
    }
};

struct Fixture {
    ServerHomeWithoutKeys home;
    TempDir files{"mdcrypt-keyfiles-"};
    GpgProcessCounter counter;
    KeyFileCache cache{home.path(), counting_gpg()};
    fs::path path(const char* name) const { return files.path() / name; }
};

}  // namespace

TEST_CASE("a key in a file is found without importing it, with its key block, and listed once") {
    Fixture f;
    write_private_file(f.path("alice.asc"), armored("alice"));
    f.counter.reset();

    const KeyLookup found = f.cache.lookup(f.path("alice.asc"), "file", "alice@example.test", now_seconds());
    REQUIRE(found.status == Status::Found);
    CHECK(found.key->fingerprint == key("alice").fingerprint);
    CHECK(found.key->source == "file " + f.path("alice.asc").string());
    REQUIRE(found.key->key_block);
    CHECK(*found.key->key_block == binary("alice"));
    CHECK(f.cache.listings() == 1);
    CHECK(f.counter.count() == 1);
    CHECK_THAT(f.counter.processes().at(0), Catch::Contains("--import") && Catch::Contains("--dry-run"));

    // Unchanged: a stat, no gpg.
    f.counter.reset();
    for (int i = 0; i < 5; ++i)
        CHECK(f.cache.lookup(f.path("alice.asc"), "file", "Alice@Example.TEST", now_seconds()).status == Status::Found);
    CHECK(f.counter.count() == 0);
    CHECK(f.cache.listings() == 1);

    // Nothing was imported into the home.
    const ProcessResult listed = f.home.gpg({"--list-keys", "--with-colons"});
    CHECK_THAT(listed.out, !Catch::Contains(key("alice").fingerprint));
}

TEST_CASE("binary key files work too") {
    Fixture f;
    write_private_file(f.path("alice.gpg"), binary("alice"));
    const KeyLookup found = f.cache.lookup(f.path("alice.gpg"), "wkd", "alice@example.test", now_seconds());
    REQUIRE(found.status == Status::Found);
    CHECK(found.key->source == "wkd " + f.path("alice.gpg").string());
}

TEST_CASE("a changed file is read again on the next lookup, someone else's key is no key, naming the path") {
    Fixture f;
    const fs::path file = f.path("pubkey.asc");
    write_private_file(file, armored("alice"));
    REQUIRE(f.cache.lookup(file, "file", "alice@example.test", now_seconds()).status == Status::Found);

    replace_file(file, armored("bob"));
    f.counter.reset();
    const KeyLookup other = f.cache.lookup(file, "file", "alice@example.test", now_seconds());
    CHECK(other.status == Status::NotFound);
    CHECK_THAT(other.reason, Catch::Contains(file.string()) && Catch::Contains(key("bob").fingerprint) &&
                                 Catch::Contains("no valid user ID for alice@example.test"));
    CHECK(f.counter.count() == 1);
    CHECK(f.cache.cached_files() == 1);

    replace_file(file, armored("alice"));
    CHECK(f.cache.lookup(file, "file", "alice@example.test", now_seconds()).status == Status::Found);
}

TEST_CASE("expired and revoked keys in files are no key, as in the keyring") {
    Fixture f;
    write_private_file(f.path("expired.asc"), armored("expired"));
    write_private_file(f.path("revoked.asc"), armored("revoked"));
    write_private_file(f.path("signonly.asc"), armored("signonly"));
    const KeyLookup expired = f.cache.lookup(f.path("expired.asc"), "file", key("expired").address, now_seconds());
    CHECK(expired.status == Status::NotFound);
    CHECK_THAT(expired.reason, Catch::Contains(f.path("expired.asc").string()) && Catch::Contains("expired"));
    const KeyLookup revoked = f.cache.lookup(f.path("revoked.asc"), "file", key("revoked").address, now_seconds());
    CHECK(revoked.status == Status::NotFound);
    CHECK_THAT(revoked.reason, Catch::Contains(f.path("revoked.asc").string()) && Catch::Contains("revoked"));
    const KeyLookup signonly = f.cache.lookup(f.path("signonly.asc"), "file", key("signonly").address, now_seconds());
    CHECK(signonly.status == Status::NotFound);
    CHECK_THAT(signonly.reason, Catch::Contains("no encryption-capable subkey"));
}

TEST_CASE("missing, unreadable, oversized, malformed and secret files are no key with a reason naming the path") {
    Fixture f;
    const auto now = now_seconds();
    auto check_none = [&](const fs::path& path, const char* words) {
        const KeyLookup r = f.cache.lookup(path, "file", "alice@example.test", now);
        CAPTURE(path, r.reason);
        CHECK(r.status == Status::NotFound);
        CHECK_THAT(r.reason, Catch::Contains(path.string()) && Catch::Contains(words));
        return r;
    };
    f.counter.reset();
    check_none(f.path("missing.asc"), "no such file");
    write_private_file(f.path("not-a-dir"), "x");
    check_none(f.path("not-a-dir") / "pubkey.asc", "no such file");
    fs::create_directory(f.path("dir.asc"));
    check_none(f.path("dir.asc"), "not a regular file");
    REQUIRE(::mkfifo(f.path("fifo.asc").c_str(), 0600) == 0);
    check_none(f.path("fifo.asc"), "not a regular file");  // and the lookup does not hang on it
    write_private_file(f.path("big.asc"), armored("alice") + std::string(std::size_t{1} << 20, '\n'));
    check_none(f.path("big.asc"), "larger than 1048576 bytes");
    write_private_file(f.path("text.asc"), "my key is on the key servers\n");
    const KeyLookup text = check_none(f.path("text.asc"), "not an OpenPGP public key file");
    CHECK_THAT(text.reason, !Catch::Contains("key servers"));  // the file's contents are never quoted
    std::string damaged = armored("alice");
    damaged[damaged.size() / 2] = damaged[damaged.size() / 2] == 'A' ? 'B' : 'A';
    write_private_file(f.path("damaged.asc"), damaged);
    check_none(f.path("damaged.asc"), "not an OpenPGP public key file");
    write_private_file(f.path("secret.asc"), read_file(key("alice").secret_file));
    check_none(f.path("secret.asc"), "secret key material");
    CHECK(f.counter.count() == 0);  // none of these got as far as gpg

    if (::geteuid() != 0) {  // root reads anything
        write_private_file(f.path("locked.asc"), armored("alice"));
        fs::permissions(f.path("locked.asc"), fs::perms::none);
        check_none(f.path("locked.asc"), "cannot open");
    }
}

TEST_CASE("a key gpg rejects although its packets are well framed is no key, and cached until it changes") {
    Fixture f;
    // A public key packet with a version 4 header and nonsense key material.
    const std::string body = std::string("\x04\x60\x00\x00\x00\x16", 6) + std::string(20, '\x01');
    const std::string garbage = std::string("\xC6", 1) + static_cast<char>(body.size()) + body;
    write_private_file(f.path("garbage.gpg"), garbage);
    f.counter.reset();
    const KeyLookup r = f.cache.lookup(f.path("garbage.gpg"), "file", "alice@example.test", now_seconds());
    CHECK(r.status == Status::NotFound);
    CHECK_THAT(r.reason, Catch::Contains(f.path("garbage.gpg").string()));
    CHECK(f.counter.count() == 1);
    CHECK(f.cache.lookup(f.path("garbage.gpg"), "file", "alice@example.test", now_seconds()).status == Status::NotFound);
    CHECK(f.counter.count() == 1);
}

TEST_CASE("of several keys in one file, the address's key is chosen and cut out alone") {
    Fixture f;
    write_private_file(f.path("team.asc"), armored("bob") + armored("revoked") + armored("alice"));
    const KeyLookup alice = f.cache.lookup(f.path("team.asc"), "file", "alice@example.test", now_seconds());
    REQUIRE(alice.status == Status::Found);
    CHECK(alice.key->fingerprint == key("alice").fingerprint);
    REQUIRE(alice.key->key_block);
    CHECK(*alice.key->key_block == binary("alice"));
    const KeyLookup bob = f.cache.lookup(f.path("team.asc"), "file", "bob@example.test", now_seconds());
    REQUIRE(bob.status == Status::Found);
    CHECK(*bob.key->key_block == binary("bob"));
    CHECK(f.cache.listings() == 1);  // one file, one listing
}

TEST_CASE("the cache keeps at most max_entries files, dropping the least recently used") {
    GnupgHome home;
    TempDir files("mdcrypt-keyfiles-");
    KeyFileCache::Limits limits;
    limits.max_entries = 2;
    KeyFileCache cache(home.path(), {}, limits);
    for (const char* name : {"a.asc", "b.asc", "c.asc"}) write_private_file(files.path() / name, armored("alice"));
    const auto now = now_seconds();
    cache.lookup(files.path() / "a.asc", "file", "alice@example.test", now);
    cache.lookup(files.path() / "b.asc", "file", "alice@example.test", now);
    cache.lookup(files.path() / "a.asc", "file", "alice@example.test", now);  // a is now the most recent
    cache.lookup(files.path() / "c.asc", "file", "alice@example.test", now);  // b goes
    CHECK(cache.cached_files() == 2);
    CHECK(cache.listings() == 3);
    cache.lookup(files.path() / "a.asc", "file", "alice@example.test", now);
    CHECK(cache.listings() == 3);
    cache.lookup(files.path() / "b.asc", "file", "alice@example.test", now);
    CHECK(cache.listings() == 4);
}

TEST_CASE("a gpg that stops before the end of a key file's listing is an error, not cached") {
    // A home without a trust database: gpg stops with a fatal error at the expired key. That once read
    // as "no key in the file".
    GnupgHome bare;
    TempDir files{"mdcrypt-keyfiles-"};
    KeyFileCache cache{bare.path()};
    write_private_file(files.path() / "expired.asc", armored("expired"));
    const KeyLookup failed = cache.lookup(files.path() / "expired.asc", "file", key("expired").address, now_seconds());
    CHECK(failed.status == Status::Error);
    CHECK_THAT(failed.reason, Catch::Contains("gpg stopped before the end of its listing"));
    CHECK(cache.cached_files() == 0);

    REQUIRE(bare.gpg({"--check-trustdb"}).ok());  // the home repaired: the next lookup lists again
    const KeyLookup judged = cache.lookup(files.path() / "expired.asc", "file", key("expired").address, now_seconds());
    CHECK(judged.status == Status::NotFound);
    CHECK_THAT(judged.reason, Catch::Contains(key("expired").fingerprint) && Catch::Contains("expired"));
}

TEST_CASE("a gpg killed or failing while it lists a key file is an error, and the next lookup lists again") {
    const auto fault_name = GENERATE(as<std::string>{}, "sigkill", "sigsegv", "oops");
    INFO("fault " << fault_name);
    ServerHomeWithoutKeys home;
    TempDir files{"mdcrypt-keyfiles-"};
    GpgFault fault(fault_name);
    KeyFileCache cache{home.path(), fault_gpg()};
    write_private_file(files.path() / "alice.asc", armored("alice"));
    const KeyLookup failed = cache.lookup(files.path() / "alice.asc", "file", "alice@example.test", now_seconds());
    CHECK(failed.status == Status::Error);
    CHECK_FALSE(failed.key);
    fault.set("none");
    CHECK(cache.lookup(files.path() / "alice.asc", "file", "alice@example.test", now_seconds()).status == Status::Found);
}

TEST_CASE("a gpg that hangs listing a key file is killed at the timeout: an error, and the next lookup lists again") {
    ServerHomeWithoutKeys home;
    TempDir files{"mdcrypt-keyfiles-"};
    GpgFault fault("hang");
    KeyFileCache cache{home.path(), fault_gpg(), KeyFileCache::Limits{.gpg_timeout = std::chrono::seconds(1)}};
    write_private_file(files.path() / "alice.asc", armored("alice"));
    const KeyLookup failed = cache.lookup(files.path() / "alice.asc", "file", "alice@example.test", now_seconds());
    CHECK(failed.status == Status::Error);
    CHECK_THAT(failed.reason, Catch::Contains("did not finish within 1 s"));
    const auto pid = fault.hung_pid();
    REQUIRE(pid);
    CHECK(process_ends(*pid));
    fault.set("none");
    CHECK(cache.lookup(files.path() / "alice.asc", "file", "alice@example.test", now_seconds()).status == Status::Found);
}

TEST_CASE("key data from a directory is checked like a key file and listed again only when it changes") {
    Fixture f;
    const std::int64_t now = now_seconds();
    f.counter.reset();
    const KeyLookup found = f.cache.lookup_data("ldap", "alice@example.test", binary("alice"), "alice@example.test", now);
    REQUIRE(found.status == Status::Found);
    CHECK(found.key->fingerprint == key("alice").fingerprint);
    CHECK(found.key->source == "ldap alice@example.test");
    REQUIRE(found.key->key_block);
    CHECK(*found.key->key_block == binary("alice"));
    CHECK(f.counter.count() == 1);

    // The same data again (armored or not, it is the bytes that count): no gpg.
    CHECK(f.cache.lookup_data("ldap", "alice@example.test", binary("alice"), "alice@example.test", now).status ==
          Status::Found);
    CHECK(f.counter.count() == 1);

    // The directory now holds bob's key under alice's entry: listed again, and refused as someone else's.
    const KeyLookup foreign = f.cache.lookup_data("ldap", "alice@example.test", armored("bob"), "alice@example.test", now);
    CHECK(foreign.status == Status::NotFound);
    CHECK_THAT(foreign.reason, Catch::StartsWith("ldap alice@example.test: ") &&
                                   Catch::Contains("has no valid user ID for alice@example.test"));
    CHECK(f.counter.count() == 2);

    // Expired and revoked keys, and data that is no key at all, are "no key" with the reason.
    CHECK_THAT(f.cache.lookup_data("ldap", "expired.user@example.test", armored("expired"), "expired.user@example.test", now)
                   .reason,
               Catch::Contains("has expired"));
    CHECK_THAT(f.cache.lookup_data("ldap", "revoked.user@example.test", armored("revoked"), "revoked.user@example.test", now)
                   .reason,
               Catch::Contains("is revoked"));
    CHECK_THAT(f.cache.lookup_data("ldap", "x@example.test", "not a key", "x@example.test", now).reason,
               Catch::Contains("ldap x@example.test: not an OpenPGP public key"));
}
