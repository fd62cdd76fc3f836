// Same keys, same verdicts: every address of the test key matrix goes through the key lookup and then
// through both engines (GPGME and librnp), from the keyring, from key files and from a WKD tree. Both
// must encrypt to the same subkeys (the key IDs of the session key packets) or refuse for the same
// reason, and that outcome must be the one the matrix expects. The engines are also handed each matrix
// key directly, past the lookup, so that their own refusals are compared too. And the two key listers
// (gpg through GPGME, librnp in-process) must list the same KeyFacts and give the same lookups, and the
// librnp one must start no gpg.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/openpgp_keys.hpp"
#include "core/wkd.hpp"
#include "crypto/encryptor_choice.hpp"
#include "crypto/gpgme_encryptor.hpp"
#include "crypto/key_sources.hpp"
#include "crypto/rnp_encryptor.hpp"
#include "crypto/rnp_key_listing.hpp"
#include "server_home.hpp"

using namespace mdcrypt;
using namespace mdcrypt::test;
namespace fs = std::filesystem;

namespace {

const TestKey& key(const std::string& name) { return TestKeys::get()[name]; }

// Every matrix key: valid (alice: cv25519 subkey; bob: RSA primary key that encrypts), expired and
// revoked keys, a key without an encryption subkey, one whose only encryption subkey expired or was
// revoked, one with four encryption subkeys (older, newest valid, expired, revoked), and one whose
// user ID names another address.
const std::vector<std::string> kMatrix{"alice",    "bob",        "expired",    "revoked",  "signonly",
                                       "multienc", "subexpired", "subrevoked", "mismatch"};

// The address each key is looked up for; mismatch's key is filed under this address, its user ID says
// other.name@.
std::string address_of(const std::string& name) {
    return name == "mismatch" ? std::string("mismatch@example.test") : key(name).address;
}
std::string local_part(const std::string& address) { return address.substr(0, address.find('@')); }

void put_file(const fs::path& file, std::string_view data) {
    fs::create_directories(file.parent_path());
    write_private_file(file, data);
}

// The keys as gpg lists them: per primary fingerprint, its (sub)keys' IDs with creation times and
// whether they can encrypt. The expected outcomes are read from here, not written down.
struct ListedKey {
    std::string id;
    long created = 0;
    bool encrypts = false;
    bool primary = false;
};
std::map<std::string, std::vector<ListedKey>> list_keys(const GnupgHome& home) {
    const test::ProcessResult r = home.gpg({"--with-colons", "--list-keys"});
    REQUIRE(r.ok());
    std::map<std::string, std::vector<ListedKey>> out;
    std::vector<ListedKey> pending;  // records not yet filed under their primary fingerprint
    std::string primary;             // the fingerprint of the key whose records come now
    bool primary_fpr_next = false;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> f;
        std::stringstream fields(line);
        for (std::string field; std::getline(fields, field, ':');) f.push_back(field);
        if (f.size() > 11 && (f[0] == "pub" || f[0] == "sub")) {
            if (f[0] == "pub") primary.clear();
            pending.push_back({f[4], std::stol(f[5]), f[11].find('e') != std::string::npos, f[0] == "pub"});
            primary_fpr_next = f[0] == "pub";
        } else if (f.size() > 9 && f[0] == "fpr" && primary_fpr_next) {
            primary = f[9];
            primary_fpr_next = false;
        }
        if (!primary.empty() && !pending.empty()) {
            for (auto& k : pending) out[primary].push_back(std::move(k));
            pending.clear();
        }
    }
    return out;
}

// The key ID a key of the matrix must be encrypted to, by construction of the key: alice's only
// subkey, bob's primary key, multienc's subkey created 2022-01-01 (the newest valid one). Empty for
// keys nothing may be encrypted to.
std::string expected_key_id(const std::map<std::string, std::vector<ListedKey>>& listed, const std::string& name) {
    const auto& keys = listed.at(key(name).fingerprint);
    const auto find = [&](auto pred) {
        const auto it = std::find_if(keys.begin(), keys.end(), pred);
        REQUIRE(it != keys.end());
        return it->id;
    };
    if (name == "alice") return find([](const ListedKey& k) { return !k.primary && k.encrypts; });
    if (name == "bob") return find([](const ListedKey& k) { return k.primary; });
    if (name == "multienc") return find([](const ListedKey& k) { return k.created == 1640995200; });
    if (name == "mismatch") return find([](const ListedKey& k) { return !k.primary; });  // direct encryption only
    return {};
}

// The key IDs of a message's session key packets, sorted, as gpg --list-packets shows them.
std::string recipient_ids(const std::string& message) {
    GnupgHome empty;
    const test::ProcessResult r = empty.gpg({"--list-packets", "--list-only"}, message);
    std::vector<std::string> ids;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        const auto id = line.find("keyid ");
        if (line.find(":pubkey enc packet:") != std::string::npos && id != std::string::npos)
            ids.push_back(line.substr(id + 6, 16));
    }
    std::sort(ids.begin(), ids.end());
    std::string out;
    for (const auto& id : ids) out += (out.empty() ? "" : " ") + id;
    return out;
}

// What one engine did with one key: "encrypts to IDS", or "refuses KEY: rejected" when it turned the
// key down as unusable (GPGME: gpg's invalid recipient; RNP: no valid encryption key), or "fails: ..."
// for anything else, which is never a verdict about the key.
std::string engine_outcome(Encryptor& engine, const EncryptionKey& k) {
    StringSource source("parity\r\n");
    std::string armored;
    StringSink sink(armored);
    try {
        engine.encrypt_to(source, std::span<const EncryptionKey>(&k, 1), sink);
    } catch (const EncryptError& e) {
        const std::string what = e.what();
        if (what.find(k.fingerprint) != std::string::npos && what.find(" rejected: ") != std::string::npos)
            return "refuses " + k.fingerprint + ": rejected";
        return std::string("fails: ") + what;
    }
    return "encrypts to " + recipient_ids(armored);
}

struct Engines {
    TempDir copies{"mdcrypt-parity-copies-"};
    GpgmeEncryptor gpgme;
    RnpEncryptor rnp;
    explicit Engines(const fs::path& home) : gpgme(home, TrustModel::ServerKeyring, {}, copies.path()), rnp(home) {}
};

}  // namespace

TEST_CASE("parity: both engines encrypt to the same subkey or refuse for the same reason, from keyring, key files and WKD") {
    GnupgHome home;  // the keyring: every matrix key, public only
    for (const auto& name : kMatrix) home.import(key(name).public_file);
    home.kill_daemons();
    const auto listed = list_keys(home);
    TempDir dir("mdcrypt-parity-");
    for (const auto& name : kMatrix) {
        const std::string address = address_of(name), armored = read_file(key(name).public_file);
        put_file(dir.path() / "vmail/example.test" / local_part(address) / ".pgp/pubkey.asc", armored);
        const SplitKeys split = split_public_keys(armored);
        REQUIRE(split.keys.size() == 1);
        put_file(dir.path() / "openpgpkey/example.test/hu" / wkd_hash(local_part(address)), split.keys[0].packets);  // binary, as WKD serves it
    }
    Engines engines(home.path());

    for (const KeySource source : {KeySource::Keyring, KeySource::File, KeySource::Wkd}) {
        GnupgSettings settings;
        settings.home = home.path();
        settings.trust_model = TrustModel::ServerKeyring;
        settings.keys.sources = {source};
        settings.keys.file_template = (dir.path() / "vmail/%d/%l/.pgp/pubkey.asc").string();
        settings.keys.wkd_root = dir.path() / "openpgpkey";
        const KeySources sources(settings);
        for (const auto& name : kMatrix) {
            const std::string address = address_of(name);
            const std::string expected_id = expected_key_id(listed, name);
            const KeyLookup found = sources.lookup(address, now_seconds());
            CAPTURE(sources.describe(), address, found.reason);
            REQUIRE(found.status != KeyLookup::Status::Error);
            if (name == "mismatch" || expected_id.empty()) {
                // Refused before either engine is asked, by the one lookup both engines share: the
                // message is never encrypted, whichever engine is configured.
                CHECK(found.status == KeyLookup::Status::NotFound);
                // The reason names the key and its defect; a key under another address is named by
                // its fingerprint in a file or WKD entry, and is simply not there in the keyring.
                if (name != "mismatch") CHECK_THAT(found.reason, Catch::Contains("key " + key(name).fingerprint + " "));
                else if (source == KeySource::Keyring) CHECK_THAT(found.reason, Catch::Contains("no key for " + address));
                else CHECK_THAT(found.reason, Catch::Contains("key " + key(name).fingerprint + " has no valid user ID for " + address));
                continue;
            }
            REQUIRE(found.status == KeyLookup::Status::Found);
            CHECK(found.key->fingerprint == key(name).fingerprint);
            CHECK(static_cast<bool>(found.key->key_block) == (source != KeySource::Keyring));
            const std::string by_gpgme = engine_outcome(engines.gpgme, found.key->encryption_key());
            const std::string by_rnp = engine_outcome(engines.rnp, found.key->encryption_key());
            CHECK(by_rnp == by_gpgme);
            CHECK(by_gpgme == "encrypts to " + expected_id);
        }
    }
}

TEST_CASE("parity: handed a matrix key directly, both engines choose the same subkey or both reject the key") {
    GnupgHome home;
    for (const auto& name : kMatrix) home.import(key(name).public_file);
    home.kill_daemons();
    const auto listed = list_keys(home);
    Engines engines(home.path());
    for (const auto& name : kMatrix) {
        const SplitKeys split = split_public_keys(read_file(key(name).public_file));
        REQUIRE(split.keys.size() == 1);
        const std::string expected_id = expected_key_id(listed, name);
        const std::string expected =
            expected_id.empty() ? "refuses " + key(name).fingerprint + ": rejected" : "encrypts to " + expected_id;
        for (const EncryptionKey& k : {EncryptionKey{key(name).fingerprint},
                                       EncryptionKey{key(name).fingerprint, std::make_shared<const std::string>(split.keys[0].packets)}}) {
            CAPTURE(name, static_cast<bool>(k.key_block));
            const std::string by_gpgme = engine_outcome(engines.gpgme, k);
            const std::string by_rnp = engine_outcome(engines.rnp, k);
            CHECK(by_rnp == by_gpgme);
            CHECK(by_gpgme == expected);
        }
    }
}

namespace {

// Every field of KeyFacts but the source and key block, which say where the key came from.
void check_same_facts(const KeyFacts& by_gpg, const KeyFacts& by_rnp) {
    CAPTURE(by_gpg.fingerprint);
    CHECK(by_rnp.fingerprint == by_gpg.fingerprint);
    CHECK(by_rnp.revoked == by_gpg.revoked);
    CHECK(by_rnp.disabled == by_gpg.disabled);
    CHECK(by_rnp.invalid == by_gpg.invalid);
    CHECK(by_rnp.expires == by_gpg.expires);
    REQUIRE(by_rnp.user_ids.size() == by_gpg.user_ids.size());
    for (std::size_t i = 0; i < by_gpg.user_ids.size(); ++i) {
        CAPTURE(i, by_gpg.user_ids[i].address);
        CHECK(by_rnp.user_ids[i].address == by_gpg.user_ids[i].address);
        CHECK(by_rnp.user_ids[i].revoked == by_gpg.user_ids[i].revoked);
        CHECK(by_rnp.user_ids[i].invalid == by_gpg.user_ids[i].invalid);
    }
    REQUIRE(by_rnp.subkeys.size() == by_gpg.subkeys.size());
    for (std::size_t i = 0; i < by_gpg.subkeys.size(); ++i) {
        CAPTURE(i);
        CHECK(by_rnp.subkeys[i].can_encrypt == by_gpg.subkeys[i].can_encrypt);
        CHECK(by_rnp.subkeys[i].revoked == by_gpg.subkeys[i].revoked);
        CHECK(by_rnp.subkeys[i].disabled == by_gpg.subkeys[i].disabled);
        CHECK(by_rnp.subkeys[i].invalid == by_gpg.subkeys[i].invalid);
        CHECK(by_rnp.subkeys[i].expires == by_gpg.subkeys[i].expires);
    }
}

void check_same_listing(const std::vector<KeyFacts>& by_gpg, const std::vector<KeyFacts>& by_rnp) {
    std::map<std::string, const KeyFacts*> rnp_keys;
    for (const auto& k : by_rnp) rnp_keys[k.fingerprint] = &k;
    REQUIRE(by_rnp.size() == by_gpg.size());
    for (const auto& k : by_gpg) {
        CAPTURE(k.fingerprint);
        REQUIRE(rnp_keys.contains(k.fingerprint));
        check_same_facts(k, *rnp_keys.at(k.fingerprint));
    }
}

// The matrix in a GnuPG home (pubring.kbx), and the same keys in a home that has only a legacy pubring.gpg.
struct MatrixHomes {
    GnupgHome kbx;
    GnupgHome legacy;
    MatrixHomes() {
        for (const auto& name : kMatrix) kbx.import(key(name).public_file);
        kbx.kill_daemons();
        const test::ProcessResult exported = kbx.gpg({"--export"});
        REQUIRE(exported.ok());
        fs::remove(legacy.path() / "pubring.kbx");
        write_private_file(legacy.path() / "pubring.gpg", exported.out);
    }
};

// A gpg_program that notes each run in `marker` and fails: what a server without a working gpg has.
fs::path failing_gpg(const TempDir& dir, const fs::path& marker) {
    const fs::path program = dir.path() / "gpg";
    write_private_file(program, "#!/bin/sh\necho run >> '" + marker.string() + "'\nexit 2\n");
    fs::permissions(program, fs::perms::owner_all);
    return program;
}

}  // namespace

TEST_CASE("listers: gpg and librnp list the same KeyFacts for the matrix from pubring.kbx, pubring.gpg and key blocks") {
    MatrixHomes homes;
    for (const fs::path& home : {homes.kbx.path(), homes.legacy.path()}) {
        CAPTURE(home);
        KeyIndex by_gpg(home, TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, KeyLister::Gpg);
        KeyIndex by_rnp(home, TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, KeyLister::Rnp);
        const std::vector<KeyFacts> gpg_keys = by_gpg.listed_keys(), rnp_keys = by_rnp.listed_keys();
        REQUIRE(gpg_keys.size() == kMatrix.size());
        check_same_listing(gpg_keys, rnp_keys);
        // Keyring order too: mdcrypt-keys records what listed_keys gives.
        for (std::size_t i = 0; i < gpg_keys.size(); ++i) CHECK(rnp_keys[i].fingerprint == gpg_keys[i].fingerprint);
    }
    // A key block (a key file, a WKD or LDAP answer): each matrix key armored and binary, and all at once.
    KeyIndex by_gpg(homes.kbx.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, KeyLister::Gpg);
    const std::vector<KeyFacts> gpg_keys = by_gpg.listed_keys();
    std::string bundle;
    for (const auto& name : kMatrix) {
        CAPTURE(name);
        const std::string armored = read_file(key(name).public_file);
        const SplitKeys split = split_public_keys(armored);
        REQUIRE(split.keys.size() == 1);
        bundle += split.keys[0].packets;
        const auto gpg_key = std::find_if(gpg_keys.begin(), gpg_keys.end(),
                                          [&](const KeyFacts& k) { return k.fingerprint == key(name).fingerprint; });
        REQUIRE(gpg_key != gpg_keys.end());
        for (const std::string& block : {armored, split.keys[0].packets}) {
            const std::vector<KeyFacts> listed = rnp_list_key_data(block, "test", "test");
            REQUIRE(listed.size() == 1);
            check_same_facts(*gpg_key, listed[0]);
        }
    }
    check_same_listing(gpg_keys, rnp_list_key_data(bundle, "test", "test"));
}

TEST_CASE("listers: key lookups with the librnp lister give the answers the gpg lister gives, from keyring, key files and WKD") {
    MatrixHomes homes;
    TempDir dir("mdcrypt-parity-");
    for (const auto& name : kMatrix) {
        const std::string address = address_of(name), armored = read_file(key(name).public_file);
        put_file(dir.path() / "vmail/example.test" / local_part(address) / ".pgp/pubkey.asc", armored);
        put_file(dir.path() / "openpgpkey/example.test/hu" / wkd_hash(local_part(address)),
                 split_public_keys(armored).keys.at(0).packets);
    }
    const auto now = now_seconds();
    for (const fs::path& home : {homes.kbx.path(), homes.legacy.path()}) {
        for (const KeySource source : {KeySource::Keyring, KeySource::File, KeySource::Wkd}) {
            // gpg --show-keys stops with "can't open trustdb.gpg" for the expired key in a legacy home
            // that has none (an Error, so never a wrong key): key files are compared in the keybox home.
            if (home == homes.legacy.path() && source != KeySource::Keyring) continue;
            GnupgSettings settings;
            settings.home = home;
            settings.keys.sources = {source};
            settings.keys.file_template = (dir.path() / "vmail/%d/%l/.pgp/pubkey.asc").string();
            settings.keys.wkd_root = dir.path() / "openpgpkey";
            settings.backend = EngineBackend::Gpgme;
            const KeySources by_gpg(settings);
            settings.backend = EngineBackend::Rnp;
            REQUIRE(key_lister_for(settings) == KeyLister::Rnp);
            const KeySources by_rnp(settings);
            CHECK_THAT(by_rnp.describe(), Catch::EndsWith("(keys listed by librnp)"));
            CHECK_THAT(by_gpg.describe(), Catch::EndsWith("(keys listed by gpg)"));
            for (const auto& name : kMatrix) {
                const std::string address = address_of(name);
                // Also before the keys were made and long after: the expiries must agree too.
                for (const std::int64_t at : {now, std::int64_t{1577880000}, std::int64_t{4102444800}}) {
                    const KeyLookup g = by_gpg.lookup(address, at), r = by_rnp.lookup(address, at);
                    CAPTURE(home, by_gpg.describe(), address, at, g.reason, r.reason);
                    CHECK(g.status != KeyLookup::Status::Error);
                    CHECK(r.status == g.status);
                    CHECK(r.reason == g.reason);  // the chosen key's refusal reason, word for word
                    REQUIRE(static_cast<bool>(r.key) == static_cast<bool>(g.key));
                    if (!g.key) continue;
                    CHECK(r.key->fingerprint == g.key->fingerprint);
                    CHECK(r.key->expires == g.key->expires);
                    CHECK(r.key->source == g.key->source);
                    CHECK(static_cast<bool>(r.key->key_block) == static_cast<bool>(g.key->key_block));
                    if (g.key->key_block) CHECK(*r.key->key_block == *g.key->key_block);
                }
            }
        }
    }
}

TEST_CASE("listers: with backend rnp a lookup starts no gpg, with gpgme the same settings fail closed") {
    MatrixHomes homes;
    TempDir dir("mdcrypt-parity-nogpg-");
    const fs::path marker = dir.path() / "gpg-was-run";
    const std::string armored = read_file(key("alice").public_file);
    put_file(dir.path() / "vmail/example.test/alice/.pgp/pubkey.asc", armored);
    put_file(dir.path() / "openpgpkey/example.test/hu" / wkd_hash("alice"), split_public_keys(armored).keys.at(0).packets);

    GnupgSettings settings;
    settings.home = homes.kbx.path();
    settings.gpg_program = failing_gpg(dir, marker);
    settings.keys.sources = {KeySource::Keyring, KeySource::File, KeySource::Wkd};
    settings.keys.file_template = (dir.path() / "vmail/%d/%l/.pgp/pubkey.asc").string();
    settings.keys.wkd_root = dir.path() / "openpgpkey";

    SECTION("rnp: every source answers, gpg never runs") {
        settings.backend = EngineBackend::Rnp;
        const KeySources sources(settings);
        for (const KeySource source : {KeySource::Keyring, KeySource::File, KeySource::Wkd}) {
            settings.keys.sources = {source};
            const KeySources one(settings);
            const KeyLookup alice = one.lookup("alice@example.test", now_seconds());
            CAPTURE(one.describe(), alice.reason);
            REQUIRE(alice.status == KeyLookup::Status::Found);
            CHECK(alice.key->fingerprint == key("alice").fingerprint);
            CHECK(one.lookup(key("revoked").address, now_seconds()).status == KeyLookup::Status::NotFound);
        }
        // The chosen key encrypts with RNP, still without gpg.
        const KeyLookup alice = sources.lookup("alice@example.test", now_seconds());
        REQUIRE(alice.status == KeyLookup::Status::Found);
        const std::shared_ptr<Encryptor> engine = make_encryptor(settings, dir.path());
        CHECK_THAT(engine_outcome(*engine, alice.key->encryption_key()), Catch::StartsWith("encrypts to "));
        CHECK_FALSE(fs::exists(marker));
    }
    SECTION("gpgme: the same settings defer or refuse to start, never \"no key\"") {
        settings.backend = EngineBackend::Gpgme;
        try {
            const KeySources sources(settings);
            const KeyLookup alice = sources.lookup("alice@example.test", now_seconds());
            CHECK(alice.status == KeyLookup::Status::Error);
        } catch (const GpgmeInitError& e) {
            CHECK_THAT(e.what(), Catch::Contains(settings.gpg_program.string()));
        }
        CHECK(fs::exists(marker));  // the recording program works: gpg was tried
    }
    SECTION("rnp with the gnupg-trustdb trust model lists with gpg: librnp cannot read the trust database") {
        settings.backend = EngineBackend::Rnp;
        settings.trust_model = TrustModel::GnupgTrustDb;
        CHECK(key_lister_for(settings) == KeyLister::Gpg);
        CHECK_THROWS_AS(KeyIndex(settings.home, TrustModel::GnupgTrustDb, {}, kDefaultGpgTimeout, KeyLister::Rnp),
                        std::invalid_argument);
    }
}

TEST_CASE("listers: key data librnp cannot parse is an error naming the file and not cached, a key it finds invalid is no key") {
    GnupgHome home;
    TempDir dir("mdcrypt-parity-badfile-");
    KeyFileCache by_rnp(home.path(), {}, {}, KeyLister::Rnp);
    KeyFileCache by_gpg(home.path(), {}, {}, KeyLister::Gpg);
    const std::string packets = split_public_keys(read_file(key("alice").public_file)).keys.at(0).packets;
    // Damage inside alice's primary key packet (ed25519) that leaves its framing, and so our own split
    // and fingerprint, intact. Body: version 4, creation time (4), algorithm, OID length, OID, MPI.
    const unsigned char tag = static_cast<unsigned char>(packets[0]), length = static_cast<unsigned char>(packets[1]);
    const std::size_t body = (tag & 0x40) ? (length < 192 ? 2 : length < 224 ? 3 : 6) : (tag & 3) == 0 ? 2 : (tag & 3) == 1 ? 3 : 5;
    REQUIRE(static_cast<unsigned char>(packets[body]) == 4);
    REQUIRE(static_cast<unsigned char>(packets[body + 5]) == 22);
    const auto now = now_seconds();

    SECTION("an algorithm nobody knows: librnp lists the key as invalid, gpg never lists it usable") {
        std::string damaged = packets;
        damaged[body + 5] = static_cast<char>(99);
        const fs::path file = dir.path() / "unknown-algorithm.pgp";
        put_file(file, damaged);
        const KeyLookup r = by_rnp.lookup(file, "file", "alice@example.test", now);
        const KeyLookup g = by_gpg.lookup(file, "file", "alice@example.test", now);
        CAPTURE(r.reason, g.reason);
        CHECK(r.status == KeyLookup::Status::NotFound);
        CHECK_THAT(r.reason, Catch::Contains(file.string()) && Catch::Contains("is invalid"));
        CHECK(g.status != KeyLookup::Status::Found);  // in a home without trustdb.gpg gpg stops: an Error
    }
    SECTION("a key whose MPI runs past its packet: librnp cannot load it, an error, listed again next time") {
        std::string damaged = packets;
        const std::size_t mpi = body + 7 + static_cast<unsigned char>(packets[body + 6]);
        damaged[mpi] = damaged[mpi + 1] = static_cast<char>(0xff);
        const fs::path file = dir.path() / "long-mpi.pgp";
        put_file(file, damaged);
        const KeyLookup r = by_rnp.lookup(file, "file", "alice@example.test", now);
        CAPTURE(r.reason);
        CHECK(r.status == KeyLookup::Status::Error);
        CHECK_THAT(r.reason, Catch::Contains(file.string()) && Catch::Contains("librnp"));
        const std::uint64_t listed = by_rnp.listings();
        CHECK(by_rnp.lookup(file, "file", "alice@example.test", now).status == KeyLookup::Status::Error);
        CHECK(by_rnp.listings() == listed + 1);
        // What gpg makes of it, for the record: never a usable key.
        const KeyLookup g = by_gpg.lookup(file, "file", "alice@example.test", now);
        INFO(g.reason);
        CHECK(g.status != KeyLookup::Status::Found);
    }
    SECTION("garbage is the file's fault under both listers: no key, naming the file") {
        const fs::path garbage = dir.path() / "garbage.asc";
        put_file(garbage, "this is not a key\n");
        for (KeyFileCache* files : {&by_rnp, &by_gpg}) {
            const KeyLookup junk = files->lookup(garbage, "file", "alice@example.test", now);
            CHECK(junk.status == KeyLookup::Status::NotFound);
            CHECK_THAT(junk.reason, Catch::Contains(garbage.string()) && Catch::Contains("not an OpenPGP public key file"));
        }
    }
}

TEST_CASE("listers: a key disabled in gpg's trust database is refused by both listers, from the keyring and from key files") {
    MatrixHomes homes;
    REQUIRE(homes.kbx.gpg({"--batch", "--command-fd", "0", "--edit-key", key("alice").fingerprint, "disable", "quit"}).ok());
    homes.kbx.kill_daemons();
    KeyIndex by_gpg(homes.kbx.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, KeyLister::Gpg);
    KeyIndex by_rnp(homes.kbx.path(), TrustModel::ServerKeyring, {}, kDefaultGpgTimeout, KeyLister::Rnp);
    check_same_listing(by_gpg.listed_keys(), by_rnp.listed_keys());
    const auto now = now_seconds();
    const KeyLookup g = by_gpg.lookup("alice@example.test", now), r = by_rnp.lookup("alice@example.test", now);
    CAPTURE(g.reason, r.reason);
    CHECK(g.status == KeyLookup::Status::NotFound);
    CHECK_THAT(g.reason, Catch::Contains("disabled"));
    CHECK(r.status == g.status);
    CHECK(r.reason == g.reason);
    CHECK(by_rnp.lookup("bob@example.test", now).status == KeyLookup::Status::Found);

    TempDir dir("mdcrypt-parity-disabled-");
    const fs::path file = dir.path() / "alice.asc";
    put_file(file, read_file(key("alice").public_file));
    KeyFileCache files_gpg(homes.kbx.path(), {}, {}, KeyLister::Gpg);
    KeyFileCache files_rnp(homes.kbx.path(), {}, {}, KeyLister::Rnp);
    const KeyLookup fg = files_gpg.lookup(file, "file", "alice@example.test", now);
    const KeyLookup fr = files_rnp.lookup(file, "file", "alice@example.test", now);
    CAPTURE(fg.reason, fr.reason);
    CHECK(fr.status == fg.status);
    CHECK(fr.reason == fg.reason);

    // A damaged trust database: librnp's listing cannot know what is disabled, so it lists nothing.
    fs::remove(homes.kbx.path() / "trustdb.gpg");
    write_private_file(homes.kbx.path() / "trustdb.gpg", std::string(41, 'x'));
    const KeyLookup damaged = by_rnp.lookup("bob@example.test", now);
    CHECK(damaged.status == KeyLookup::Status::Error);
    CHECK_THAT(damaged.reason, Catch::Contains("trustdb.gpg is damaged"));
}
