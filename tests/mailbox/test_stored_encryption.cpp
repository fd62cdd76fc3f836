#include "mailbox/stored_encryption.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "fake_encryptor.hpp"
#include "test_files.hpp"

using namespace mdcrypt;
namespace fs = std::filesystem;

namespace {

// enc@ has a key, broken@'s lookup fails, anyone else has none; example.test is opportunistic,
// required.example.test required, and other domains are not local.
struct Fixture {
    Policy policy;
    KeyLookupFn lookup;
    testing::FakeEncryptor encryptor;

    Fixture() {
        policy.domains["example.test"] = DomainPolicy{Mode::Opportunistic};
        policy.domains["required.example.test"] = DomainPolicy{Mode::Required};
        lookup = [](std::string_view address, std::int64_t) {
            KeyLookup result;
            if (address.starts_with("enc@")) {
                result.status = KeyLookup::Status::Found;
                result.key = UsableKey{"AAAABBBBCCCCDDDDEEEEFFFF0000111122223333", 0, "test"};
            } else if (address.starts_with("broken@")) {
                result.status = KeyLookup::Status::Error;
                result.reason = "keyring unreadable";
            } else {
                result.reason = "no key";
            }
            return result;
        };
    }

    StoredVerdict run(const std::string& address, const std::string& message, std::string& output) {
        StringSource in(message);
        StringSink out(output);
        const StoredEncryptionServices services{policy, lookup, encryptor, {fs::temp_directory_path(), 1 << 20}};
        return encrypt_stored_message(services, {address, "tok3n", 1'700'000'000}, in, out);
    }
};

const std::string kPlain =
    "From: bob@example.net\r\nSubject: minutes\r\nContent-Type: text/plain\r\n\r\nThe meeting moved.\r\n";

}  // namespace

TEST_CASE("A stored message for a keyed address is encrypted, its boundaries carrying the journal token", "[stored_encryption]") {
    Fixture f;
    std::string out;
    const StoredVerdict v = f.run("enc@example.test", kPlain, out);
    CHECK(v.outcome == StoredOutcome::Encrypted);
    CHECK(v.reason.empty());
    CHECK(f.encryptor.calls == 1);
    CHECK(f.encryptor.last_plaintext.find("The meeting moved.") != std::string::npos);
    CHECK(out.find("boundary=\"" + token_boundary("tok3n", 0) + "\"") != std::string::npos);
    CHECK(out.find("The meeting moved.") == std::string::npos);
}

TEST_CASE("Without a key or outside the policy a stored message is left plain and written unchanged", "[stored_encryption]") {
    Fixture f;
    for (const char* address : {"nokey@example.test", "enc@elsewhere.example"}) {
        std::string out;
        CHECK(f.run(address, kPlain, out).outcome == StoredOutcome::LeftPlain);
        CHECK(out == kPlain);
    }
    // "required" without a key refuses (the milter's 5xx): stored mail cannot be refused, so it stays
    // as it is, and no copy is written.
    std::string out;
    CHECK(f.run("nokey@required.example.test", kPlain, out).outcome == StoredOutcome::LeftPlain);
    CHECK(out.empty());
    CHECK(f.encryptor.calls == 0);
}

TEST_CASE("A failed key lookup or engine leaves the message Failed with the reason", "[stored_encryption]") {
    Fixture f;
    std::string out;
    const StoredVerdict lookup = f.run("broken@example.test", kPlain, out);
    CHECK(lookup.outcome == StoredOutcome::Failed);
    CHECK(lookup.reason.find("keyring unreadable") != std::string::npos);

    f.encryptor.fail = true;
    out.clear();
    const StoredVerdict engine = f.run("enc@example.test", kPlain, out);
    CHECK(engine.outcome == StoredOutcome::Failed);
    CHECK_FALSE(engine.reason.empty());
}

TEST_CASE("An already encrypted stored message is counted protected and not encrypted again", "[stored_encryption]") {
    Fixture f;
    const std::string message = testing::read_file(fs::path(MDCRYPT_TEST_DATA) / "protected" / "encrypted" / "pgp-mime-pkesk.eml");
    std::string out;
    CHECK(f.run("enc@example.test", message, out).outcome == StoredOutcome::AlreadyProtected);
    CHECK(f.encryptor.calls == 0);
    CHECK(out == message);
}
