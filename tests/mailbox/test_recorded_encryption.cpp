#include "mailbox/recorded_encryption.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <memory>
#include <string>

#include "fake_encryptor.hpp"
#include "mailbox/stored_encryption.hpp"
#include "temp_dir.hpp"

using namespace mdcrypt;

namespace {

const std::string kFingerprint = "AAAABBBBCCCCDDDDEEEEFFFF0000111122223333";

Spool spool_of(const std::filesystem::path& dir, std::string_view text) {
    Spool spool({dir, 1 << 20});
    spool.write(text);
    return spool;
}

// Records `plaintext` to `keys` and returns the recording.
RecordedEncryption record(const std::filesystem::path& dir, std::string_view plaintext, std::vector<EncryptionKey> keys) {
    RecordingEncryptor recorder(dir);
    StringSource in(plaintext);
    std::string ignored;
    StringSink out(ignored);
    CHECK_THROWS_AS(recorder.encrypt_to(in, keys, out), EncryptError);
    CHECK(ignored.empty());
    auto recorded = recorder.take();
    REQUIRE(recorded);
    return std::move(*recorded);
}

std::string replay(const RecordedEncryption& recorded, const Spool& armored, std::string_view plaintext,
                   std::vector<EncryptionKey> keys) {
    ReplayingEncryptor replaying(recorded, armored);
    StringSource in(plaintext);
    std::string out;
    StringSink sink(out);
    replaying.encrypt_to(in, keys, sink);
    return out;
}

}  // namespace

TEST_CASE("the ciphertext of a recording is handed back only for the same bytes and keys", "[recorded_encryption]") {
    testing::TempDir dir;
    const std::string entity = "Content-Type: text/plain\r\n\r\nbody \x00 with a NUL\r\n" + std::string(100000, 'y');
    const std::vector<EncryptionKey> keys{{kFingerprint}};
    const RecordedEncryption recorded = record(dir.path(), entity, keys);
    CHECK(recorded.size == entity.size());
    const Spool armored = spool_of(dir.path(), "-----BEGIN PGP MESSAGE-----\n...\n");

    CHECK(replay(recorded, armored, entity, keys) == "-----BEGIN PGP MESSAGE-----\n...\n");

    std::string changed = entity;
    changed[70000] = 'z';
    CHECK_THROWS_WITH(replay(recorded, armored, changed, keys), Catch::Contains("differs from what the batch encrypted"));
    CHECK_THROWS_AS(replay(recorded, armored, entity.substr(0, entity.size() - 1), keys), EncryptError);
    CHECK_THROWS_AS(replay(recorded, armored, entity + "x", keys), EncryptError);
    CHECK_THROWS_WITH(replay(recorded, armored, entity, {{"1111BBBBCCCCDDDDEEEEFFFF0000111122223333"}}), Catch::Contains("keys differ"));
    CHECK_THROWS_AS(replay(recorded, armored, entity, {{kFingerprint}, {kFingerprint}}), EncryptError);
    CHECK_THROWS_AS(replay(recorded, armored, entity, {{kFingerprint, std::make_shared<const std::string>("block")}}), EncryptError);
}

TEST_CASE("a recording to a key with its key block cannot go to a keyring-only batch", "[recorded_encryption]") {
    testing::TempDir dir;
    CHECK(keyring_fingerprints(record(dir.path(), "x", {{kFingerprint}, {"1111BBBBCCCCDDDDEEEEFFFF0000111122223333"}})) ==
          std::vector<std::string>{kFingerprint, "1111BBBBCCCCDDDDEEEEFFFF0000111122223333"});
    CHECK(keyring_fingerprints(record(dir.path(), "x", {{kFingerprint}, {kFingerprint, std::make_shared<const std::string>("block")}}))
              .empty());
}

TEST_CASE("the core run twice (record, then replay) stores the very message one run would", "[recorded_encryption]") {
    testing::TempDir dir;
    Policy policy;
    policy.domains["example.test"] = DomainPolicy{Mode::Required};
    const KeyLookupFn lookup = [](std::string_view, std::int64_t) {
        KeyLookup result;
        result.status = KeyLookup::Status::Found;
        result.key = UsableKey{kFingerprint, 0, "test"};
        return result;
    };
    const SpoolSettings spool{dir.path(), 1 << 20};
    const StoredMessageJob job{"enc@example.test", "tok3n", 1'700'000'000};
    const std::string message =
        "From: bob@example.net\r\nSubject: minutes\r\nMessage-ID: <1@x>\r\nContent-Type: text/plain\r\n\r\nThe meeting moved.\r\n";

    testing::FakeEncryptor fake;
    std::string once;
    {
        StringSource in(message);
        StringSink out(once);
        REQUIRE(encrypt_stored_message({policy, lookup, fake, spool}, job, in, out).outcome == StoredOutcome::Encrypted);
    }

    RecordingEncryptor recorder(dir.path());
    std::string first_output;
    {
        StringSource in(message);
        StringSink out(first_output);
        const StoredVerdict first = encrypt_stored_message({policy, lookup, recorder, spool}, job, in, out);
        CHECK(first.outcome == StoredOutcome::Failed);  // stopped at the encryption; not used
    }
    CHECK(first_output.empty());
    const std::optional<RecordedEncryption> recorded = recorder.take();
    REQUIRE(recorded);
    CHECK(keyring_fingerprints(*recorded) == std::vector<std::string>{kFingerprint});

    // What the batch engine would do with the recorded entity: here the same fake.
    Spool armored(spool);
    {
        testing::FakeEncryptor batch_engine;
        std::string entity(recorded->size, '\0');
        REQUIRE(::pread(recorded->plaintext.get(), entity.data(), entity.size(), 0) == static_cast<ssize_t>(entity.size()));
        CHECK(entity == fake.last_plaintext);
        StringSource in(entity);
        batch_engine.encrypt_to(in, recorded->keys, armored);
    }
    ReplayingEncryptor replaying(*recorded, armored);
    std::string twice;
    StringSource in(message);
    StringSink out(twice);
    CHECK(encrypt_stored_message({policy, lookup, replaying, spool}, job, in, out).outcome == StoredOutcome::Encrypted);
    CHECK(twice == once);

    SECTION("a second run on a message that changed meanwhile does not get the ciphertext") {
        std::string changed = message;
        changed.replace(changed.find("moved."), 6, "moved!");
        std::string other;
        StringSource in2(changed);
        StringSink out2(other);
        const StoredVerdict v = encrypt_stored_message({policy, lookup, replaying, spool}, job, in2, out2);
        CHECK(v.outcome == StoredOutcome::Failed);
        CHECK_THAT(v.reason, Catch::Contains("differs from what the batch encrypted"));
    }
}
