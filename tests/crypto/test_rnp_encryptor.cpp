// RnpEncryptor against real keys: what it encrypts decrypts byte for byte with gpg, sqop and rnp; it
// encrypts to the subkey gpg would; keys from key files; a changed keyring without a new encryptor;
// errors that name the keyring and the keys; several threads at once.
#include "crypto/rnp_encryptor.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "crypto/gpgme_encryptor.hpp"
#include "server_home.hpp"

using namespace mdcrypt;
using namespace mdcrypt::test;
using Catch::Contains;

namespace {

const TestKey& key(const char* name) { return TestKeys::get()[name]; }

std::string encrypt_to(Encryptor& encryptor, std::string_view plaintext, const std::vector<EncryptionKey>& keys) {
    StringSource source(plaintext);
    std::string armored;
    StringSink sink(armored);
    encryptor.encrypt_to(source, keys, sink);
    return armored;
}

std::string encrypt(Encryptor& encryptor, std::string_view plaintext, const std::vector<std::string>& fingerprints) {
    std::vector<EncryptionKey> keys;
    for (const auto& f : fingerprints) keys.push_back(EncryptionKey{f});
    return encrypt_to(encryptor, plaintext, keys);
}

std::string encrypt_error(Encryptor& encryptor, const std::vector<EncryptionKey>& keys) {
    try {
        encrypt_to(encryptor, "body\r\n", keys);
    } catch (const EncryptError& e) {
        return e.what();
    }
    FAIL("no EncryptError was thrown");
    return {};
}

// A text of `size` bytes with CRLF lines and every byte value in between, like a binary-ish body.
std::string test_body(std::size_t size, unsigned seed = 42) {
    std::string body;
    std::mt19937 random(seed);
    while (body.size() < size) {
        for (int i = 0; i < 60; ++i) body.push_back(static_cast<char>(random() % 256));
        body += "\r\n";
    }
    body.resize(size);
    return body;
}

// The key IDs of the public-key encrypted session key packets, as gpg lists them.
std::multiset<std::string> recipient_key_ids(const GnupgHome& home, const std::string& armored) {
    const ProcessResult r = home.gpg({"--list-packets", "--list-only"}, armored);
    std::multiset<std::string> ids;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
        const auto at = line.find(":pubkey enc packet:");
        const auto id = line.find("keyid ");
        if (at != std::string::npos && id != std::string::npos) ids.insert(line.substr(id + 6, 16));
    }
    return ids;
}

std::string fingerprint_of_uid(const GnupgHome& home, const std::string& uid) {
    const ProcessResult r = home.gpg({"--with-colons", "--list-keys", uid});
    REQUIRE(r.ok());
    const auto fpr = r.out.find("\nfpr:::::::::");
    REQUIRE(fpr != std::string::npos);
    return r.out.substr(fpr + 13, 40);
}

}  // namespace

TEST_CASE("RNP output to alice (cv25519), bob (RSA-3072) and both decrypts byte-exact with gpg, sqop and rnp") {
    ServerHome server;
    RecipientHome recipient;
    TempDir rnp_home;
    RnpEncryptor encryptor(server.path());
    const std::string body = test_body(70000);
    for (const std::vector<const char*>& names :
         {std::vector<const char*>{"alice"}, std::vector<const char*>{"bob"}, std::vector<const char*>{"alice", "bob"}}) {
        std::vector<std::string> fingerprints;
        for (const char* name : names) fingerprints.push_back(key(name).fingerprint);
        const std::string armored = encrypt(encryptor, body, fingerprints);
        CHECK_THAT(armored, Catch::StartsWith("-----BEGIN PGP MESSAGE-----\r\n"));
        CHECK_THAT(armored, Catch::EndsWith("-----END PGP MESSAGE-----\r\n"));
        CHECK(recipient_key_ids(server, armored).size() == names.size());  // key IDs not hidden

        const ProcessResult by_gpg = recipient.gpg({"--decrypt"}, armored);
        INFO("gpg: " << by_gpg.describe());
        REQUIRE(by_gpg.ok());
        CHECK(by_gpg.out == body);
        for (const char* name : names) {
            INFO("recipient " << name);
            const ProcessResult by_sqop = run_process({"sqop", "decrypt", key(name).secret_file.string()}, armored);
            INFO("sqop: " << by_sqop.describe());
            REQUIRE(by_sqop.ok());
            CHECK(by_sqop.out == body);
            const ProcessResult by_rnp = run_process({"rnp", "--homedir", rnp_home.path().string(), "--keyfile",
                                                      key(name).secret_file.string(), "--decrypt", "--output", "-"},
                                                     armored);
            INFO("rnp: " << by_rnp.describe());
            REQUIRE(by_rnp.ok());
            CHECK(by_rnp.out == body);
        }
    }
}

TEST_CASE("RNP encrypts an empty body and one byte") {
    ServerHome server;
    RecipientHome recipient;
    RnpEncryptor encryptor(server.path());
    for (const std::string& body : {std::string(), std::string("x")}) {
        const ProcessResult r = recipient.gpg({"--decrypt"}, encrypt(encryptor, body, {key("alice").fingerprint}));
        REQUIRE(r.ok());
        CHECK(r.out == body);
    }
}

TEST_CASE("RNP encrypts to the same subkey as gpg: the newest valid encryption subkey, whatever their order") {
    GnupgHome home;  // public and secret keys: gpg decrypts here
    const std::string uid = "Multi <multi@example.org>";
    REQUIRE(home.gpg({"--faked-system-time", "20190101T000000!", "--quick-gen-key", uid, "ed25519", "sign", "never"}).ok());
    const std::string fpr = fingerprint_of_uid(home, uid);
    // In keyring order: created 2020 (older), 2022 (gpg's choice), 2023 but expired, 2024 but revoked.
    REQUIRE(home.gpg({"--faked-system-time", "20200101T000000!", "--quick-add-key", fpr, "cv25519", "encr", "never"}).ok());
    REQUIRE(home.gpg({"--faked-system-time", "20220101T000000!", "--quick-add-key", fpr, "cv25519", "encr", "never"}).ok());
    REQUIRE(home.gpg({"--faked-system-time", "20230101T000000!", "--quick-add-key", fpr, "cv25519", "encr", "1d"}).ok());
    REQUIRE(home.gpg({"--faked-system-time", "20240101T000000!", "--quick-add-key", fpr, "rsa2048", "encr", "never"}).ok());
    {
        const ProcessResult listed = home.gpg({"--with-colons", "--list-keys", fpr});
        std::string last_sub;
        std::istringstream lines(listed.out);
        for (std::string line; std::getline(lines, line);)
            if (line.starts_with("fpr:::::::::") && line.find(fpr) == std::string::npos) last_sub = line.substr(12, 40);
        REQUIRE(last_sub.size() == 40);
        // Revokes the newest (RSA) subkey: gpg 2.2 has no quick command for a subkey.
        const ProcessResult revoked = home.gpg({"--command-fd", "0", "--status-fd", "2", "--edit-key", fpr},
                                               "key " + last_sub + "\nrevkey\ny\n0\n\ny\nsave\n");
        INFO(revoked.describe());
        const ProcessResult after = home.gpg({"--with-colons", "--list-keys", fpr});
        REQUIRE(after.out.find("\nsub:r:") != std::string::npos);  // the newest subkey is revoked
        REQUIRE(after.out.find("\nsub:e:") != std::string::npos);  // the 2023 one expired
    }
    home.kill_daemons();
    GpgmeEncryptor gpgme(home.path(), TrustModel::ServerKeyring);
    RnpEncryptor rnp(home.path());
    const std::multiset<std::string> by_gpg = recipient_key_ids(home, encrypt(gpgme, "x", {fpr}));
    const std::string armored = encrypt(rnp, "x", {fpr});
    const std::multiset<std::string> by_rnp = recipient_key_ids(home, armored);
    REQUIRE(by_gpg.size() == 1);
    CHECK(by_rnp == by_gpg);
    const ProcessResult decrypted = home.gpg({"--decrypt"}, armored);
    REQUIRE(decrypted.ok());
    CHECK(decrypted.out == "x");
}

TEST_CASE("RNP encrypts to a key from a key file, alone and together with keyring keys, without importing it") {
    ServerHome server;
    RecipientHome recipient;
    RnpEncryptor encryptor(server.path());
    const ProcessResult exported = recipient.gpg({"--export", key("carol").fingerprint});
    REQUIRE(exported.ok());
    const auto block = std::make_shared<const std::string>(exported.out);
    const std::string body = test_body(5000);
    for (const std::vector<EncryptionKey>& keys :
         {std::vector<EncryptionKey>{{key("carol").fingerprint, block}},
          std::vector<EncryptionKey>{{key("alice").fingerprint}, {key("carol").fingerprint, block}}}) {
        const std::string armored = encrypt_to(encryptor, body, keys);
        CHECK(recipient_key_ids(server, armored).size() == keys.size());
        const ProcessResult by_sqop = run_process({"sqop", "decrypt", key("carol").secret_file.string()}, armored);
        INFO(by_sqop.describe());
        REQUIRE(by_sqop.ok());
        CHECK(by_sqop.out == body);
    }
    // Carol was never added to the keyring: a keyring-only operation does not find her.
    CHECK_THAT(encrypt_error(encryptor, {{key("carol").fingerprint}}), Contains("is not in the keyring"));
}

TEST_CASE("RNP writes one session key packet per key, also when a key is named twice") {
    ServerHome server;
    RecipientHome recipient;
    RnpEncryptor encryptor(server.path());
    const std::string armored = encrypt(encryptor, "x", {key("alice").fingerprint, key("bob").fingerprint, key("alice").fingerprint});
    CHECK(recipient_key_ids(server, armored).size() == 2);
    const ProcessResult r = recipient.gpg({"--decrypt"}, armored);
    REQUIRE(r.ok());
    CHECK(r.out == "x");
}

TEST_CASE("RNP picks up a key imported into the keyring without a new encryptor") {
    ServerHome server;
    RecipientHome recipient;
    RnpEncryptor encryptor(server.path());
    CHECK(!encrypt(encryptor, "x", {key("alice").fingerprint}).empty());
    const std::string error = encrypt_error(encryptor, {{key("carol").fingerprint}});
    CHECK_THAT(error, Contains(key("carol").fingerprint) && Contains("is not in the keyring of " + server.path().string()));
    server.import(key("carol").public_file);
    server.kill_daemons();
    const ProcessResult r = recipient.gpg({"--decrypt"}, encrypt(encryptor, "hello", {key("carol").fingerprint}));
    REQUIRE(r.ok());
    CHECK(r.out == "hello");
}

TEST_CASE("RNP refuses keys it cannot encrypt to, naming them") {
    ServerHome server;
    RnpEncryptor encryptor(server.path());
    CHECK_THAT(encrypt_error(encryptor, {{key("signonly").fingerprint}}),
               Contains("key " + key("signonly").fingerprint + " rejected: no valid, unrevoked, unexpired encryption key"));
    CHECK_THAT(encrypt_error(encryptor, {{key("expired").fingerprint}}), Contains(key("expired").fingerprint));
    CHECK_THAT(encrypt_error(encryptor, {{key("revoked").fingerprint}}), Contains(key("revoked").fingerprint));
    CHECK_THAT(encrypt_error(encryptor, {{"ALICE"}}), Contains("not a key fingerprint: 'ALICE'"));
    CHECK_THAT(encrypt_error(encryptor, {}), Contains("no recipient keys"));
}

TEST_CASE("a damaged or unreadable keyring and a truncated key file are an EncryptError naming the file") {
    ServerHome server;
    RnpEncryptor encryptor(server.path());
    const auto kbx = server.path() / "pubring.kbx";
    const std::string original = read_file(kbx);

    SECTION("garbage instead of the keybox") {
        std::filesystem::remove(kbx);
        write_private_file(kbx, std::string(4096, '\x5a'));
        const std::string error = encrypt_error(encryptor, {{key("alice").fingerprint}});
        CHECK_THAT(error, Contains(key("alice").fingerprint) && Contains("cannot load keyring " + kbx.string()) &&
                              Contains("the file is damaged: no keybox header (KBXf) at byte 0"));
    }
    SECTION("a keybox cut in half") {
        std::filesystem::remove(kbx);
        write_private_file(kbx, original.substr(0, original.size() / 2));
        // Keys before the cut may still load; bob (imported last) is in the lost half.
        const std::string error = encrypt_error(encryptor, {{key("alice").fingerprint}, {key("bob").fingerprint}});
        // The log line says which file and what is wrong with it, not only RNP's "Bad format".
        CHECK_THAT(error, Contains("cannot load keyring " + kbx.string()) && Contains("the file is damaged: a blob of ") &&
                              Contains(" is cut off after "));
    }
    SECTION("a directory where the keybox should be") {
        std::filesystem::remove(kbx);
        std::filesystem::create_directory(kbx);
        CHECK_THAT(encrypt_error(encryptor, {{key("alice").fingerprint}}),
                   Contains("cannot read keyring " + kbx.string()) && Contains("Is a directory"));
    }
    SECTION("a keybox larger than a keyring may be is refused, not read") {
        std::filesystem::resize_file(kbx, (std::uintmax_t{256} << 20) + 1);  // sparse: no disk, no memory
        CHECK_THAT(encrypt_error(encryptor, {{key("alice").fingerprint}}),
                   Contains("cannot read keyring " + kbx.string()) && Contains("more than the 256 MiB"));
    }
    SECTION("a truncated key file") {
        const std::string block = read_file(key("carol").public_file);
        RecipientHome recipient;
        const ProcessResult exported = recipient.gpg({"--export", key("carol").fingerprint});
        const auto truncated = std::make_shared<const std::string>(exported.out.substr(0, exported.out.size() - 40));
        CHECK_THAT(encrypt_error(encryptor, {{key("carol").fingerprint, truncated}}),
                   Contains("key block given for " + key("carol").fingerprint));
    }
}

TEST_CASE("RNP rethrows the source's and the sink's exceptions") {
    ServerHome server;
    RnpEncryptor encryptor(server.path());
    class ThrowingSource final : public ByteSource {
    public:
        std::size_t read(std::span<char>) override { throw std::logic_error("spool file vanished"); }
    } source;
    std::string out;
    StringSink sink(out);
    const std::vector<EncryptionKey> keys{{key("alice").fingerprint}};
    CHECK_THROWS_AS(encryptor.encrypt_to(source, keys, sink), std::logic_error);
    class ThrowingSink final : public ByteSink {
    public:
        void write(std::string_view) override { throw std::length_error("disk full"); }
    } full;
    StringSource text("body");
    CHECK_THROWS_AS(encryptor.encrypt_to(text, keys, full), std::length_error);
    // The encryptor is still usable afterwards.
    CHECK(!encrypt(encryptor, "x", {key("alice").fingerprint}).empty());
}

TEST_CASE("RNP encrypts on 8 threads at once, every message decrypting to its own body") {
    ServerHome server;
    RecipientHome recipient;
    RnpEncryptor encryptor(server.path());
    constexpr int kThreads = 8, kPerThread = 12;
    std::vector<std::vector<std::pair<std::string, std::string>>> results(kThreads);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) {
                const std::string body = test_body(1000 + static_cast<std::size_t>(t * 97 + i), static_cast<unsigned>(t * 100 + i));
                const char* who = (t + i) % 3 == 0 ? "alice" : (t + i) % 3 == 1 ? "bob" : nullptr;
                std::vector<std::string> fingerprints;
                if (who) fingerprints = {key(who).fingerprint};
                else fingerprints = {key("alice").fingerprint, key("bob").fingerprint};
                try {
                    results[static_cast<std::size_t>(t)].emplace_back(body, encrypt(encryptor, body, fingerprints));
                } catch (...) {
                    ++failures;
                }
            }
        });
    for (auto& thread : threads) thread.join();
    REQUIRE(failures == 0);
    for (const auto& per_thread : results)
        for (const auto& [body, armored] : per_thread) {
            const ProcessResult r = recipient.gpg({"--decrypt"}, armored);
            REQUIRE(r.ok());
            CHECK(r.out == body);
        }
}
