// GpgmeEncryptor against real gpg: output that gpg decrypts, errors that name the keys, exceptions from
// the streams, the number of gpg processes per message, and what one encryption costs.
#include "crypto/gpgme_encryptor.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <thread>
#include <iostream>
#include <random>
#include <sstream>

using namespace std::string_literals;

#include "crypto/gpg_operation.hpp"
#include "gpg_fault.hpp"
#include "gpg_process_counter.hpp"
#include "server_home.hpp"

using namespace mdcrypt;
using namespace mdcrypt::test;

namespace {

const TestKey& key(const char* name) { return TestKeys::get()[name]; }

std::string encrypt(Encryptor& encryptor, std::string_view plaintext, std::vector<std::string> fingerprints) {
    StringSource source(plaintext);
    std::string armored;
    StringSink sink(armored);
    encryptor.encrypt(source, fingerprints, sink);
    return armored;
}

std::string decrypt_with_gpg(const GnupgHome& home, const std::string& armored) {
    const ProcessResult r = home.gpg({"--decrypt"}, armored);
    INFO(r.describe());
    REQUIRE(r.ok());
    return r.out;
}

// A text of `size` bytes with CRLF lines, like a message body.
std::string text_body(std::size_t size) {
    std::string body;
    std::mt19937 random(42);
    static constexpr std::string_view words[] = {"encrypt", "the ", "message ", "body, ", "please. ", "Regards "};
    while (body.size() < size) {
        for (int i = 0; i < 9; ++i) body += words[random() % 6];
        body += "\r\n";
    }
    body.resize(size);
    return body;
}

class ThrowingSource final : public ByteSource {
public:
    std::size_t read(std::span<char> out) override {
        if (calls_++ == 0) {
            out[0] = 'x';
            return 1;
        }
        throw std::logic_error("spool file vanished");
    }

private:
    int calls_ = 0;
};

class ThrowingSink final : public ByteSink {
public:
    void write(std::string_view) override { throw std::length_error("disk full"); }
};

}  // namespace

TEST_CASE("what is encrypted to alice (cv25519) or bob (RSA-3072) decrypts with gpg to the same bytes") {
    ServerHome server;
    RecipientHome recipient;
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring);
    const std::string plaintext = "Content-Type: text/plain\r\n\r\nbinary-safe: \x00\x01\xff\r\nno final line end"s;

    for (const char* name : {"alice", "bob"}) {
        INFO(name);
        const std::string armored = encrypt(encryptor, plaintext, {key(name).fingerprint});
        CHECK(armored.rfind("-----BEGIN PGP MESSAGE-----\n", 0) == 0);
        CHECK_THAT(armored, Catch::EndsWith("-----END PGP MESSAGE-----\n"));
        CHECK(decrypt_with_gpg(recipient, armored) == plaintext);
    }
}

TEST_CASE("one message to several keys decrypts for each of them") {
    ServerHome server;
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring);
    const std::string armored = encrypt(encryptor, "hello both\r\n", {key("alice").fingerprint, key("bob").fingerprint});
    for (const char* name : {"alice", "bob"}) {
        GnupgHome only;
        only.import(key(name).secret_file);
        CHECK(decrypt_with_gpg(only, armored) == "hello both\r\n");
    }
}

TEST_CASE("fingerprints are accepted in lower case") {
    ServerHome server;
    RecipientHome recipient;
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring);
    std::string lower = key("alice").fingerprint;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(decrypt_with_gpg(recipient, encrypt(encryptor, "x", {lower})) == "x");
}

TEST_CASE("an unknown fingerprint is an EncryptError that names it and gpg's reason") {
    ServerHome server;
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring);
    const std::string unknown = key("carol").fingerprint;  // not in the server's keyring
    try {
        encrypt(encryptor, "secret", {key("alice").fingerprint, unknown});
        FAIL("no exception");
    } catch (const EncryptError& e) {
        const std::string what = e.what();
        CHECK_THAT(what, Catch::Contains(unknown));
        CHECK_THAT(what, Catch::Contains("No public key"));
        CHECK_THAT(what, Catch::Contains(key("alice").fingerprint));  // the fingerprints involved
        CHECK_THAT(what, !Catch::Contains("secret"));                  // never the content
    }
}

TEST_CASE("expired, revoked and sign-only keys are refused by gpg too") {
    ServerHome server;
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring);
    for (const char* name : {"expired", "revoked", "signonly"}) {
        INFO(name);
        try {
            encrypt(encryptor, "text", {key(name).fingerprint});
            FAIL("no exception");
        } catch (const EncryptError& e) {
            CHECK_THAT(std::string(e.what()), Catch::Contains(key(name).fingerprint) && Catch::Contains("rejected"));
        }
    }
}

TEST_CASE("recipients that are not fingerprints are refused before gpg runs") {
    ServerHome server;
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring, counting_gpg());
    GpgProcessCounter counter;
    CHECK_THROWS_AS(encrypt(encryptor, "x", {}), EncryptError);
    CHECK_THROWS_WITH(encrypt(encryptor, "x", {"alice@example.test"}), Catch::Contains("not a key fingerprint"));
    CHECK_THROWS_AS(encrypt(encryptor, "x", {key("alice").fingerprint + "\n--hidden-recipient"}), EncryptError);
    CHECK_THROWS_AS(encrypt(encryptor, "x", {key("alice").fingerprint.substr(24)}), EncryptError);  // a key ID
    CHECK(counter.count() == 0);
}

TEST_CASE("exceptions from the source and the sink come back out of encrypt() unchanged") {
    ServerHome server;
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring);
    const std::vector<std::string> alice{key("alice").fingerprint};
    {
        ThrowingSource source;
        std::string out;
        StringSink sink(out);
        CHECK_THROWS_MATCHES(encryptor.encrypt(source, alice, sink), std::logic_error, Catch::Message("spool file vanished"));
    }
    {
        StringSource source("some text");
        ThrowingSink sink;
        CHECK_THROWS_MATCHES(encryptor.encrypt(source, alice, sink), std::length_error, Catch::Message("disk full"));
    }
    // The encryptor is still usable afterwards.
    CHECK_FALSE(encrypt(encryptor, "again", alice).empty());
}

TEST_CASE("a large body is streamed through gpg") {
    ServerHome server;
    RecipientHome recipient;
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring);
    std::string body(3 << 20, '\0');
    std::mt19937 random(7);
    for (char& c : body) c = static_cast<char>(random());  // incompressible
    const std::string armored = encrypt(encryptor, body, {key("alice").fingerprint});
    CHECK(armored.size() > body.size());
    CHECK(decrypt_with_gpg(recipient, armored) == body);
}

TEST_CASE("trust model gnupg: gpg refuses a key without full validity, and names it") {
    ServerHome server;
    server.set_ownertrust(key("alice").fingerprint, 6);
    GpgmeEncryptor encryptor(server.path(), TrustModel::GnupgTrustDb);
    CHECK_FALSE(encrypt(encryptor, "to alice", {key("alice").fingerprint}).empty());
    CHECK_THROWS_WITH(encrypt(encryptor, "to bob", {key("bob").fingerprint}), Catch::Contains(key("bob").fingerprint));
}

TEST_CASE("one encrypted message is exactly one gpg process, which starts no agent and no dirmngr") {
    ServerHome server;  // its import started an agent, which ServerHome stopped again
    REQUIRE_FALSE(server.has_agent_socket());
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring, counting_gpg());
    GpgProcessCounter counter;  // after construction: the engine's one-time `gpg --version` is not counted

    for (int i = 0; i < 3; ++i) {
        counter.reset();
        encrypt(encryptor, text_body(10 * 1024), {key("alice").fingerprint});
        const auto processes = counter.processes();
        REQUIRE(processes.size() == 1);
        CHECK_THAT(processes[0], Catch::Contains("--encrypt") && Catch::Contains("--always-trust") &&
                                     Catch::Contains("--disable-dirmngr") && Catch::Contains("--armor"));
        CHECK_THAT(processes[0], !Catch::Contains("--throw-keyids"));
    }
    CHECK_FALSE(server.has_agent_socket());
    CHECK_FALSE(server.has_dirmngr_socket());
}

TEST_CASE("cost of encrypting a 10 KB text message to one cv25519 key") {
    ServerHome server;
    const std::string body = text_body(10 * 1024);
    const std::vector<std::string> alice{key("alice").fingerprint};
    constexpr int kRuns = 50;

    // Timed with the real gpg: the counting wrapper would add its own start-up to every run.
    double mean_ms = 0;
    std::size_t armored_size = 0;
    {
        GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring);
        encrypt(encryptor, body, alice);  // warm up caches
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < kRuns; ++i) armored_size = encrypt(encryptor, body, alice).size();
        const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
        mean_ms = elapsed.count() / kRuns;
    }
    double processes_per_message = 0;
    {
        GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring, counting_gpg());
        GpgProcessCounter counter;
        for (int i = 0; i < 10; ++i) encrypt(encryptor, body, alice);
        processes_per_message = static_cast<double>(counter.count()) / 10;
    }
    std::ostringstream report;
    report << "GpgmeEncryptor, 10 KB text to one cv25519 key: " << mean_ms << " ms mean over " << kRuns << " runs ("
           << 1000.0 / mean_ms << " messages/s on one thread), " << processes_per_message << " gpg processes per message, "
           << armored_size << " bytes armored";
    WARN(report.str());
    std::cout << report.str() << '\n';
    CHECK(processes_per_message == 1.0);
}

// gpg dying or stopping early never yields output that passes for a message: each of these once gave a
// 250 with a body no client could decrypt.
TEST_CASE("a gpg killed while reading or writing, or exiting 0 after part of the output, is an EncryptError") {
    const auto fault_name =
        GENERATE(as<std::string>{}, "encrypt-kill-reading", "encrypt-kill-writing", "encrypt-partial");
    INFO("fault " << fault_name);
    ServerHome server;
    GpgFault fault(fault_name);
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring, fault_gpg());
    const std::string body = text_body(2 << 20);
    std::string what;
    try {
        encrypt(encryptor, body, {key("alice").fingerprint});
    } catch (const EncryptError& e) {
        what = e.what();
    }
    CHECK_THAT(what, Catch::Contains(key("alice").fingerprint));
    CHECK_THAT(what, Catch::Contains("did not finish") || Catch::Contains("not a complete OpenPGP message") ||
                         Catch::Contains("gpg reported") || Catch::Contains("stopped before finishing"));

    fault.set("none");  // the same encryptor works again once gpg does
    RecipientHome recipient;
    CHECK(decrypt_with_gpg(recipient, encrypt(encryptor, body, {key("alice").fingerprint})) == body);
}

// A gpg that hangs (reading nothing, writing nothing) would hold a slot and the MTA's connection until
// the MTA gives up, and outlive the daemon.
TEST_CASE("a hanging gpg is killed at the operation's timeout and the encryption fails naming the limit") {
    ServerHome server;
    GpgFault fault("encrypt-hang");
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring, fault_gpg(), {}, std::chrono::seconds(2));
    std::string what;
    try {
        encrypt(encryptor, text_body(1 << 20), {key("alice").fingerprint});
    } catch (const EncryptError& e) {
        what = e.what();
    }
    CHECK_THAT(what, Catch::Contains("did not finish within 2 s") && Catch::Contains("timeout_seconds") &&
                         Catch::Contains(key("alice").fingerprint));
    const auto pid = fault.hung_pid();
    REQUIRE(pid);
    CHECK(process_ends(*pid));

    fault.set("none");
    RecipientHome recipient;
    CHECK(decrypt_with_gpg(recipient, encrypt(encryptor, "after", {key("alice").fingerprint})) == "after");
}

TEST_CASE("stop_gpg_operations ends a hanging encryption at once, and every later one") {
    ServerHome server;
    GpgFault fault("encrypt-hang");
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring, fault_gpg());  // default timeout: 120 s
    std::thread stopper([&] {
        while (!fault.hung_pid()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        stop_gpg_operations();
    });
    std::string what;
    try {
        encrypt(encryptor, "body", {key("alice").fingerprint});
    } catch (const EncryptError& e) {
        what = e.what();
    }
    stopper.join();
    CHECK_THAT(what, Catch::Contains("stopping; gpg was killed"));
    CHECK(process_ends(*fault.hung_pid()));

    fault.set("none");  // a healthy gpg does not help once the process stops
    CHECK_THROWS_WITH(encrypt(encryptor, "body", {key("alice").fingerprint}), Catch::Contains("stopping"));
}

TEST_CASE("gpg starts with no signal blocked, whatever the calling thread blocks") {
    ServerHome server;
    GpgFault fault("encrypt-sigmask");
    GpgmeEncryptor encryptor(server.path(), TrustModel::ServerKeyring, fault_gpg());
    sigset_t blocked, old;
    sigemptyset(&blocked);
    for (int sig : {SIGHUP, SIGINT, SIGTERM}) sigaddset(&blocked, sig);
    REQUIRE(::pthread_sigmask(SIG_BLOCK, &blocked, &old) == 0);  // as libmilter's worker threads do
    encrypt(encryptor, "body", {key("alice").fingerprint});
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    CHECK_THAT(read_file(fault.file().string() + ".sigblk"), Catch::Contains("SigBlk:\t0000000000000000"));
}
