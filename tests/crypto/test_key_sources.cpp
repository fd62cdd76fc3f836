// The [keys] sources end to end with real gpg: keys from the keyring, a per-user key file and a local
// WKD tree, in the configured order; messages encrypted to file keys (one gpg per message, the key
// passed as a private copy) that the recipient decrypts; changes seen on the next message.
#include "crypto/key_sources.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/key_paths.hpp"
#include "core/openpgp_keys.hpp"
#include "core/processor.hpp"
#include "core/wkd.hpp"
#include "crypto/explain.hpp"
#include "crypto/gpgme_encryptor.hpp"
#include "crypto/rnp_encryptor.hpp"
#include "gpg_process_counter.hpp"
#include "milter/crypto_services.hpp"
#include "server_home.hpp"

using namespace mdcrypt;
using namespace mdcrypt::test;
using Status = KeyLookup::Status;
namespace fs = std::filesystem;

namespace {

const TestKey& key(const char* name) { return TestKeys::get()[name]; }
std::string armored(const char* name) { return read_file(key(name).public_file); }

void replace_file(const fs::path& file, std::string_view data) {
    fs::create_directories(file.parent_path());
    const fs::path tmp = file.string() + ".new";
    write_private_file(tmp, data);
    fs::rename(tmp, file);
}

// A server whose keyring holds only bob's key, with key files under its own directories.
struct Server {
    GnupgHome home;
    TempDir dir{"mdcrypt-keysrc-"};
    GnupgSettings settings;

    explicit Server(std::vector<KeySource> sources, const char* gpg_program = nullptr) {
        home.import(key("bob").public_file);
        home.kill_daemons();
        settings.home = home.path();
        settings.trust_model = TrustModel::ServerKeyring;
        if (gpg_program) settings.gpg_program = gpg_program;
        settings.keys.sources = std::move(sources);
        settings.keys.file_template = (dir.path() / "vmail/%d/%l/.pgp/pubkey.asc").string();
        settings.keys.wkd_root = dir.path() / "openpgpkey";
    }
    fs::path user_file(const char* local, const char* domain = "example.test") const {
        return dir.path() / "vmail" / domain / local / ".pgp/pubkey.asc";
    }
    fs::path wkd_file(const char* local, const char* domain = "example.test") const {
        return dir.path() / "openpgpkey" / domain / "hu" / wkd_hash(local);
    }
};

std::string encrypt_to(Encryptor& encryptor, std::string_view plaintext, std::vector<EncryptionKey> keys) {
    StringSource source(plaintext);
    std::string armored_text;
    StringSink sink(armored_text);
    encryptor.encrypt_to(source, keys, sink);
    return armored_text;
}

// The key IDs a message is encrypted to, as gpg --list-packets shows them.
std::vector<std::string> recipients_of(const std::string& message) {
    GnupgHome empty;
    const test::ProcessResult r = empty.gpg({"--list-packets"}, message);
    std::vector<std::string> ids;
    for (std::size_t at = 0; (at = r.out.find("keyid ", at)) != std::string::npos; at += 6)
        ids.push_back(r.out.substr(at + 6, 16));
    return ids;
}

std::string decrypt(const GnupgHome& home, const std::string& message) {
    const test::ProcessResult r = home.gpg({"--decrypt"}, message);
    INFO(r.describe());
    REQUIRE(r.ok());
    return r.out;
}

// Sets $TMPDIR for its lifetime, then restores what was there.
class ScopedTmpdir {
public:
    explicit ScopedTmpdir(const fs::path& dir) {
        if (const char* old = std::getenv("TMPDIR")) old_ = old;
        ::setenv("TMPDIR", dir.c_str(), 1);
    }
    ~ScopedTmpdir() {
        if (old_) ::setenv("TMPDIR", old_->c_str(), 1);
        else ::unsetenv("TMPDIR");
    }
    ScopedTmpdir(const ScopedTmpdir&) = delete;
    ScopedTmpdir& operator=(const ScopedTmpdir&) = delete;

private:
    std::optional<std::string> old_;
};

// What a directory held, one "NAME MODE" per entry (with its entries below it), sorted.
std::vector<std::string> listing(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
        const auto mode = static_cast<unsigned>(entry.symlink_status().permissions() & fs::perms::mask);
        std::string octal = "0000";
        for (int i = 3; i >= 0; --i) octal[static_cast<std::size_t>(3 - i)] = static_cast<char>('0' + ((mode >> (3 * i)) & 7));
        out.push_back(fs::relative(entry.path(), dir).string() + " " + octal);
    }
    std::sort(out.begin(), out.end());
    return out;
}

// The plaintext, read by gpg while it runs: by then the key copies are written. Records what
// `spool` and `tmp` hold at that moment; throws instead of giving the rest when `fail` is set.
class WatchingSource final : public ByteSource {
public:
    WatchingSource(std::string_view text, fs::path spool, fs::path tmp, bool fail)
        : text_(text), spool_(std::move(spool)), tmp_(std::move(tmp)), fail_(fail) {}
    std::size_t read(std::span<char> out) override {
        if (!watched_) {
            watched_ = true;
            in_spool = listing(spool_);
            in_tmp = listing(tmp_);
            if (fail_) throw std::runtime_error("spool read error");
        }
        return text_.read(out);
    }
    std::vector<std::string> in_spool, in_tmp;

private:
    StringSource text_;
    fs::path spool_, tmp_;
    bool fail_;
    bool watched_ = false;
};

}  // namespace

TEST_CASE("the milter copies file keys for gpg into its spool directory, not $TMPDIR, and leaves nothing there") {
    Server server({KeySource::Keyring, KeySource::File});
    replace_file(server.user_file("carol"), armored("carol"));
    RecipientHome readers;
    TempDir spool("mdcrypt-spool-");  // the configured [milter] spool_directory
    TempDir tmp("mdcrypt-tmpdir-");   // $TMPDIR while the milter runs
    const bool fail = GENERATE(false, true);
    std::optional<WatchingSource> body;
    std::string message;
    {
        const ScopedTmpdir tmpdir(tmp.path());
        const auto crypto = milter::make_gpgme_crypto(server.settings, spool.path());
        const KeyLookup carol = crypto->lookup("carol@example.test", now_seconds());
        REQUIRE(carol.status == Status::Found);
        REQUIRE(carol.key->key_block);  // from carol's file, not the keyring: gpg gets a copy
        body.emplace("for carol\r\n", spool.path(), tmp.path(), fail);
        const std::vector<EncryptionKey> keys{carol.key->encryption_key()};
        StringSink sink(message);
        if (fail) CHECK_THROWS_WITH(crypto->encryptor->encrypt_to(*body, keys, sink), "spool read error");
        else crypto->encryptor->encrypt_to(*body, keys, sink);
    }
    // While gpg ran: one private directory holding one private copy, under the spool directory only.
    CHECK(body->in_tmp == std::vector<std::string>{});
    REQUIRE(body->in_spool.size() == 2);
    CHECK_THAT(body->in_spool[0], Catch::StartsWith("mdcrypt-keys.") && Catch::EndsWith(" 0700"));
    CHECK_THAT(body->in_spool[1], Catch::StartsWith("mdcrypt-keys.") && Catch::EndsWith("/key0.gpg 0600"));
    // Afterwards, also when the encryption failed: nothing left in either.
    CHECK(listing(spool.path()).empty());
    CHECK(listing(tmp.path()).empty());
    if (!fail) CHECK(decrypt(readers, message) == "for carol\r\n");
}

TEST_CASE("with backend rnp the milter's crypto services encrypt with RNP, to a keyring key and a key file key at once") {
    Server server({KeySource::Keyring, KeySource::File});
    replace_file(server.user_file("carol"), armored("carol"));
    server.settings.backend = EngineBackend::Rnp;
    RecipientHome readers;
    TempDir spool("mdcrypt-spool-");
    const auto crypto = milter::make_gpgme_crypto(server.settings, spool.path());
    CHECK(dynamic_cast<RnpEncryptor*>(crypto->encryptor.get()) != nullptr);
    const KeyLookup carol = crypto->lookup("carol@example.test", now_seconds());
    const KeyLookup bob = crypto->lookup("bob@example.test", now_seconds());
    REQUIRE(carol.status == Status::Found);
    REQUIRE(bob.status == Status::Found);
    const std::vector<EncryptionKey> keys{carol.key->encryption_key(), bob.key->encryption_key()};
    std::string message;
    StringSource body("for carol and bob\r\n");
    StringSink sink(message);
    crypto->encryptor->encrypt_to(body, keys, sink);
    CHECK(decrypt(readers, message) == "for carol and bob\r\n");
    CHECK(listing(spool.path()).empty());  // RNP reads key blocks from memory: no copies anywhere
}

TEST_CASE("with backend rnp the milter's crypto services need no gpg: lookups, health check and encryption without one") {
    Server server({KeySource::Keyring, KeySource::File});
    replace_file(server.user_file("carol"), armored("carol"));
    server.settings.backend = EngineBackend::Rnp;
    server.settings.gpg_program = server.home.path() / "no-such-gpg";
    TempDir spool("mdcrypt-spool-");
    const auto crypto = milter::make_gpgme_crypto(server.settings, spool.path());
    CHECK(crypto->lookup("carol@example.test", now_seconds()).status == Status::Found);
    CHECK(crypto->lookup("bob@example.test", now_seconds()).status == Status::Found);
    CHECK(crypto->usable_key_count() == 1);  // bob: the keyring holds his key only
    REQUIRE(crypto->check_gpg);
    CHECK_NOTHROW(crypto->check_gpg());
    // The trust database model still needs gpg: librnp cannot read trustdb.gpg.
    server.settings.trust_model = TrustModel::GnupgTrustDb;
    CHECK_THROWS_WITH(milter::make_gpgme_crypto(server.settings, spool.path()), Catch::Contains("no-such-gpg"));
}

TEST_CASE("the milter's crypto services need a directory for key copies") {
    Server server({KeySource::Keyring, KeySource::File});
    CHECK_THROWS_AS(milter::make_gpgme_crypto(server.settings, fs::path()), std::invalid_argument);
}

TEST_CASE("a per-user key file gives a key that is not in the keyring, and the recipient decrypts") {
    Server server({KeySource::Keyring, KeySource::File});
    replace_file(server.user_file("carol"), armored("carol"));
    const KeySources sources(server.settings);
    const KeyLookup carol = sources.lookup("carol@example.test", now_seconds());
    REQUIRE(carol.status == Status::Found);
    CHECK(carol.key->fingerprint == key("carol").fingerprint);
    CHECK(carol.key->source == "file " + server.user_file("carol").string());

    GpgmeEncryptor encryptor(server.home.path(), TrustModel::ServerKeyring);
    const std::string message = encrypt_to(encryptor, "for carol\r\n", {carol.key->encryption_key()});
    RecipientHome recipients;
    CHECK(decrypt(recipients, message) == "for carol\r\n");
}

TEST_CASE("a local WKD tree gives keys under the hashed local part") {
    Server server({KeySource::Wkd});
    const SplitKeys carol_binary = split_public_keys(armored("carol"));
    replace_file(server.wkd_file("carol"), carol_binary.keys.at(0).packets);
    const KeySources sources(server.settings);
    const KeyLookup carol = sources.lookup("Carol@Example.TEST", now_seconds());
    REQUIRE(carol.status == Status::Found);
    CHECK(carol.key->source == "wkd " + server.wkd_file("carol").string());
    const KeyLookup bob = sources.lookup("bob@example.test", now_seconds());  // in the keyring, which is not a source
    CHECK(bob.status == Status::NotFound);
    CHECK_THAT(bob.reason, Catch::Contains(server.wkd_file("bob").string()) && Catch::Contains("no such file"));
}

TEST_CASE("a key dropped into the keyring, a user's key file or the WKD tree is used for the next lookup") {
    Server server({KeySource::Keyring, KeySource::File, KeySource::Wkd});
    const KeySources sources(server.settings);
    const auto now = now_seconds();
    CHECK(sources.lookup("carol@example.test", now).status == Status::NotFound);
    CHECK(sources.lookup("alice@example.test", now).status == Status::NotFound);

    server.home.import(key("carol").public_file);
    server.home.kill_daemons();
    const KeyLookup carol = sources.lookup("carol@example.test", now);
    REQUIRE(carol.status == Status::Found);
    CHECK(carol.key->source == "keyring " + server.home.path().string());

    replace_file(server.wkd_file("alice"), armored("alice"));
    const KeyLookup from_wkd = sources.lookup("alice@example.test", now);
    REQUIRE(from_wkd.status == Status::Found);
    CHECK(from_wkd.key->source == "wkd " + server.wkd_file("alice").string());

    replace_file(server.user_file("alice"), armored("alice"));
    const KeyLookup from_file = sources.lookup("alice@example.test", now);
    REQUIRE(from_file.status == Status::Found);
    CHECK(from_file.key->source == "file " + server.user_file("alice").string());  // file comes before wkd
}

TEST_CASE("the configured order decides which of two usable keys is used") {
    // A second key for alice@example.test, in the keyring; alice's own key in her file.
    Server keyring_first({KeySource::Keyring, KeySource::File});
    GnupgHome maker;
    REQUIRE(maker.gpg({"--quick-gen-key", "Alice Second <alice@example.test>", "ed25519", "sign", "never"}).ok());
    const test::ProcessResult listed = maker.gpg({"--with-colons", "--list-keys", "alice@example.test"});
    const std::string second = listed.out.substr(listed.out.find("\nfpr:") + 13, 40);
    REQUIRE(maker.gpg({"--quick-add-key", second, "cv25519", "encr", "never"}).ok());
    const test::ProcessResult exported = maker.gpg({"--armor", "--export", second});
    REQUIRE(exported.ok());
    keyring_first.home.gpg({"--import"}, exported.out);
    keyring_first.home.kill_daemons();
    replace_file(keyring_first.user_file("alice"), armored("alice"));

    const auto now = now_seconds();
    const KeySources by_keyring(keyring_first.settings);
    CHECK(by_keyring.lookup("alice@example.test", now).key->fingerprint == second);

    GnupgSettings file_first = keyring_first.settings;
    file_first.keys.sources = {KeySource::File, KeySource::Keyring};
    const KeySources by_file(file_first);
    CHECK(by_file.lookup("alice@example.test", now).key->fingerprint == key("alice").fingerprint);
}

TEST_CASE("a failing keyring before a key file defers instead of using the file's key") {
    Server server({KeySource::Keyring, KeySource::File});
    replace_file(server.user_file("carol"), armored("carol"));
    const KeySources sources(server.settings);
    REQUIRE(sources.lookup("carol@example.test", now_seconds()).status == Status::Found);
    fs::remove(server.home.path() / "pubring.kbx");
    write_private_file(server.home.path() / "pubring.kbx", std::string(4096, 'x'));
    const KeyLookup broken = sources.lookup("carol@example.test", now_seconds());
    CHECK(broken.status == Status::Error);
    CHECK_THAT(broken.reason, Catch::Contains("keyring"));
}

TEST_CASE("local parts that would leave the key directory are no key, and no file is opened") {
    Server server({KeySource::File, KeySource::Wkd});
    // Something a traversal would reach: <dir>/vmail/pubkey.asc would be "../.." from <dir>/vmail/d/l.
    replace_file(server.dir.path() / "vmail/example.test/.pgp/pubkey.asc", armored("alice"));
    const KeySources sources(const_cast<const GnupgSettings&>(server.settings));
    for (const char* address : {"..@example.test", ".@example.test", "a/b@example.test", "../..@example.test", "x@..",
                                "x@a/b"}) {
        const KeyLookup r = sources.lookup(address, now_seconds());
        CAPTURE(address, r.reason);
        CHECK(r.status == Status::NotFound);
    }
    const KeyLookup dots = sources.lookup("..@example.test", now_seconds());
    CHECK_THAT(dots.reason, Catch::Contains("the local part is \"..\""));
    KeySources& mutable_sources = const_cast<KeySources&>(sources);
    CHECK(mutable_sources.files().listings() == 0);
    CHECK(mutable_sources.files().cached_files() == 0);
}

TEST_CASE("alice+lists@ uses alice's key file, the decision keeps the address as given") {
    Server server({KeySource::File});
    replace_file(server.user_file("carol"), armored("carol"));
    const auto sources = std::make_shared<const KeySources>(server.settings);
    const KeyLookupFn lookup = key_lookup_fn(sources);
    Policy policy;
    policy.domains["example.test"] = DomainPolicy{Mode::Required};
    const RecipientDecision d = classify_envelope_recipient(policy, "<Carol+Lists@Example.TEST>", lookup, now_seconds());
    CHECK(d.cls == RecipientClass::Encrypt);
    CHECK(d.address == "Carol+Lists@example.test");
    CHECK(d.key->fingerprint == key("carol").fingerprint);
}

TEST_CASE("one gpg per message to a file key after the first, mixed keyring and file keys in one process") {
    Server server({KeySource::Keyring, KeySource::File}, counting_gpg());
    replace_file(server.user_file("carol"), armored("carol"));
    TempDir key_copies("mdcrypt-keycopies-");
    const auto sources = std::make_shared<const KeySources>(server.settings);
    GpgmeEncryptor encryptor(server.home.path(), TrustModel::ServerKeyring, counting_gpg(), key_copies.path());
    const KeyLookupFn lookup = key_lookup_fn(sources);
    Policy policy;
    policy.domains["example.test"] = DomainPolicy{Mode::Required, false};
    const SpoolSettings spool{key_copies.path(), 1 << 20};
    const BoundaryGenerator boundaries = random_boundary_generator();
    GpgProcessCounter counter;
    RecipientHome readers;

    auto send = [&](std::vector<std::string> to) {
        const auto now = now_seconds();
        std::vector<RecipientDecision> recipients;
        for (const auto& address : to) recipients.push_back(classify_envelope_recipient(policy, address, lookup, now));
        const ProcessContext context{policy, lookup, encryptor, spool, boundaries, now};
        StringSource body("secret text\r\n");
        mdcrypt::ProcessResult result = process_message(context, parse_header_block("Subject: s\r\n\r\n").fields, body, recipients);
        REQUIRE(result.decision.action == MessageDecision::Action::Encrypt);
        REQUIRE(result.encrypted);
        return read_all(*result.encrypted->body->reader());
    };

    send({"carol@example.test"});  // first message: keyring listing, file listing, encryption
    CHECK(counter.count() == 3);

    counter.reset();
    const std::string second = send({"carol@example.test"});
    const auto processes = counter.processes();
    REQUIRE(processes.size() == 1);
    CHECK_THAT(processes[0], Catch::Contains("--encrypt") && Catch::Contains("-f ") && Catch::Contains(key_copies.path().string()));
    CHECK_THAT(decrypt(readers, second), Catch::Contains("secret text"));

    counter.reset();
    const std::string mixed = send({"carol@example.test", "bob@example.test"});
    REQUIRE(counter.count() == 1);
    CHECK(recipients_of(mixed).size() == 2);
    CHECK_THAT(decrypt(readers, mixed), Catch::Contains("secret text"));  // readers hold both secret keys

    // The private copies are gone; only the spool's own (unnamed) files were ever there.
    CHECK(fs::is_empty(key_copies.path()));
}

TEST_CASE("the encryptor uses the validated bytes, not whatever the user's file holds by then") {
    Server server({KeySource::File});
    replace_file(server.user_file("carol"), armored("carol"));
    const KeySources sources(server.settings);
    const KeyLookup carol = sources.lookup("carol@example.test", now_seconds());
    REQUIRE(carol.status == Status::Found);
    replace_file(server.user_file("carol"), armored("bob"));  // swapped between lookup and encryption

    GpgmeEncryptor encryptor(server.home.path(), TrustModel::ServerKeyring);
    const std::string message = encrypt_to(encryptor, "for carol\r\n", {carol.key->encryption_key()});
    const auto ids = recipients_of(message);
    REQUIRE(ids.size() == 1);
    RecipientHome readers;
    CHECK(decrypt(readers, message) == "for carol\r\n");
    const test::ProcessResult carol_keys = readers.gpg({"--with-colons", "--list-keys", key("carol").fingerprint});
    CHECK_THAT(carol_keys.out, Catch::Contains(ids[0]));
}

TEST_CASE("a key block that is not exactly the named key is refused before gpg runs") {
    GnupgHome home;
    GpgmeEncryptor encryptor(home.path(), TrustModel::ServerKeyring);
    const auto both = std::make_shared<const std::string>(split_public_keys(armored("alice")).keys.at(0).packets +
                                                          split_public_keys(armored("bob")).keys.at(0).packets);
    CHECK_THROWS_WITH(encrypt_to(encryptor, "x", {EncryptionKey{key("alice").fingerprint, both}}),
                      Catch::Contains("not exactly that one key"));
    const auto bob = std::make_shared<const std::string>(split_public_keys(armored("bob")).keys.at(0).packets);
    CHECK_THROWS_WITH(encrypt_to(encryptor, "x", {EncryptionKey{key("alice").fingerprint, bob}}),
                      Catch::Contains("not exactly that one key"));
}

TEST_CASE("explain shows the policy entry, each source's answer and the class") {
    Server server({KeySource::Keyring, KeySource::File, KeySource::Wkd});
    replace_file(server.user_file("carol"), armored("carol"));
    auto config = std::make_shared<Config>();
    config->policy_file = "/etc/mdcrypt-milter/domains.toml";
    config->gnupg = server.settings;
    config->policy.domains["example.test"] = DomainPolicy{Mode::Opportunistic, true, "[domain.\"example.test\"]"};
    config->policy.recipients["carol@example.test"] = DomainPolicy{Mode::Required, true, "[recipient.\"carol@example.test\"]"};
    const std::vector<std::string> addresses{"carol+x@example.test", "nobody@example.test", "someone@example.com"};
    const ExplainReport report = explain_addresses(*config, addresses, now_seconds());
    INFO(report.text);
    CHECK_FALSE(report.any_lookup_failed);
    CHECK_THAT(report.text, Catch::Contains("key sources, in order: keyring " + server.home.path().string() + "; file "));
    CHECK_THAT(report.text, Catch::Contains("encryption engine: gpgme"));
    CHECK_THAT(report.text, Catch::Contains("local: yes, by [recipient.\"carol@example.test\"]") &&
                                Catch::Contains("mode: required (set by [recipient.\"carol@example.test\"])") &&
                                Catch::Contains("keys for: carol@example.test (subaddress removed)"));
    CHECK_THAT(report.text, Catch::Contains("source 1 keyring: no usable key: no key for carol@example.test"));
    CHECK_THAT(report.text, Catch::Contains("source 2 file: key " + key("carol").fingerprint + ", expires never, from file " +
                                            server.user_file("carol").string() + " [used]"));
    CHECK_THAT(report.text, Catch::Contains("source 3 wkd: no usable key: wkd " + server.wkd_file("carol").string() +
                                            ": no such file"));
    CHECK_THAT(report.text, Catch::Contains("class: encrypt (usable key " + key("carol").fingerprint + ")"));
    CHECK_THAT(report.text, Catch::Contains("class: plain (no usable key: "));
    CHECK_THAT(report.text, Catch::Contains("someone@example.com\n  local: no"));
}

TEST_CASE("explain names the configured encryption engine") {
    Server server({KeySource::Keyring});
    Config config;
    config.gnupg = server.settings;
    config.policy.domains["example.test"] = DomainPolicy{Mode::Required};
    const std::vector<std::string> addresses{"bob@example.test"};
    for (const auto& [backend, name] : {std::pair{EngineBackend::Gpgme, "gpgme"}, std::pair{EngineBackend::Rnp, "rnp"}}) {
        config.gnupg.backend = backend;
        const ExplainReport report = explain_addresses(config, addresses, now_seconds());
        INFO(report.text);
        CHECK_THAT(report.text, Catch::Contains(std::string("encryption engine: ") + name + " ("));
        // With the server keyring model the rnp engine's keys are listed by librnp, not gpg.
        CHECK_THAT(report.text, Catch::Contains(backend == EngineBackend::Rnp ? "(keys listed by librnp)" : "(keys listed by gpg)"));
        CHECK_THAT(report.text, Catch::Contains("class: encrypt (usable key " + key("bob").fingerprint + ")"));
    }
}
