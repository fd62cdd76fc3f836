// Same keys, same verdicts: every address of the test key matrix goes through the key lookup and then
// through both engines (GPGME and librnp), from the keyring, from key files and from a WKD tree. Both
// must encrypt to the same subkeys (the key IDs of the session key packets) or refuse for the same
// reason, and that outcome must be the one the matrix expects. The engines are also handed each matrix
// key directly, past the lookup, so that their own refusals are compared too.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "core/openpgp_keys.hpp"
#include "core/wkd.hpp"
#include "crypto/gpgme_encryptor.hpp"
#include "crypto/key_sources.hpp"
#include "crypto/rnp_encryptor.hpp"
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
