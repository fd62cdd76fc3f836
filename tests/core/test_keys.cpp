#include "core/keys.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "core/decision.hpp"
#include "core/encryptor.hpp"

using namespace mdcrypt;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

KeyFacts good_key(std::string address = "alice@example.test") {
    KeyFacts k;
    k.fingerprint = "F1";
    k.user_ids = {{std::move(address), false, false}};
    k.subkeys = {{false, false, false, false, 0}, {true, false, false, false, 0}};  // primary (sign), encryption subkey
    k.source = "keyring";
    return k;
}

}  // namespace

TEST_CASE("assess_key: the usability rules as a table", "[keys]") {
    struct Row {
        const char* what;
        void (*mutate)(KeyFacts&);
        bool usable;
        const char* reason_part;
    };
    const Row rows[] = {
        {"a valid key", [](KeyFacts&) {}, true, ""},
        {"revoked primary", [](KeyFacts& k) { k.revoked = true; }, false, "revoked"},
        {"disabled", [](KeyFacts& k) { k.disabled = true; }, false, "disabled"},
        {"invalid", [](KeyFacts& k) { k.invalid = true; }, false, "invalid"},
        {"expired primary", [](KeyFacts& k) { k.expires = kNow - 1; }, false, "expired"},
        {"primary expiring later", [](KeyFacts& k) { k.expires = kNow + 100; }, true, ""},
        {"expired encryption subkey", [](KeyFacts& k) { k.subkeys[1].expires = kNow; }, false, "no valid unexpired encryption subkey"},
        {"revoked encryption subkey", [](KeyFacts& k) { k.subkeys[1].revoked = true; }, false, "no valid unexpired encryption subkey"},
        {"sign-only key", [](KeyFacts& k) { k.subkeys.pop_back(); }, false, "no encryption-capable subkey"},
        {"wrong user ID", [](KeyFacts& k) { k.user_ids[0].address = "mallory@example.test"; }, false, "no valid user ID for alice@example.test"},
        {"revoked user ID", [](KeyFacts& k) { k.user_ids[0].revoked = true; }, false, "no valid user ID"},
        {"user ID differs in case only", [](KeyFacts& k) { k.user_ids[0].address = "Alice@Example.TEST"; }, true, ""},
        {"a second, valid encryption subkey", [](KeyFacts& k) { k.subkeys[1].revoked = true; k.subkeys.push_back({true, false, false, false, 0}); }, true, ""},
    };
    for (const auto& row : rows) {
        SECTION(row.what) {
            KeyFacts k = good_key();
            row.mutate(k);
            const KeyAssessment a = assess_key(k, "alice@example.test", kNow);
            CHECK(a.key.has_value() == row.usable);
            if (!row.usable) {
                CHECK_THAT(a.reason, Catch::Contains(row.reason_part));
                CHECK_THAT(a.reason, Catch::Contains("F1"));
            }
        }
    }
}

TEST_CASE("assess_key reports the effective expiry of the chosen subkey", "[keys]") {
    KeyFacts k = good_key();
    k.expires = kNow + 500;
    k.subkeys[1].expires = kNow + 1000;
    const KeyAssessment a = assess_key(k, "alice@example.test", kNow);
    REQUIRE(a.key);
    CHECK(a.key->expires == kNow + 500);
    CHECK(a.key->source == "keyring");
}

TEST_CASE("choose_key prefers the longest-lived usable key and explains rejections", "[keys]") {
    KeyFacts short_lived = good_key();
    short_lived.fingerprint = "SHORT";
    short_lived.subkeys[1].expires = kNow + 10;
    KeyFacts forever = good_key();
    forever.fingerprint = "FOREVER";
    KeyFacts revoked = good_key();
    revoked.fingerprint = "REVOKED";
    revoked.revoked = true;

    CHECK(choose_key({short_lived, forever, revoked}, "alice@example.test", kNow).key->fingerprint == "FOREVER");
    CHECK(choose_key({revoked, short_lived}, "alice@example.test", kNow).key->fingerprint == "SHORT");

    const KeyAssessment none = choose_key({revoked}, "alice@example.test", kNow);
    CHECK_FALSE(none.key);
    CHECK_THAT(none.reason, Catch::Contains("REVOKED is revoked"));
    CHECK(choose_key({}, "alice@example.test", kNow).reason == "no key for alice@example.test");
}

// --- Keys from key files: the key block travels with the chosen key ---

TEST_CASE("a usable key keeps its key block, and the message decision hands it on") {
    KeyFacts k = good_key();
    k.key_block = std::make_shared<const std::string>("one key's packets");
    k.source = "file /keys/alice.asc";
    const KeyAssessment a = assess_key(k, "alice@example.test", kNow);
    REQUIRE(a.key);
    CHECK(a.key->key_block == k.key_block);
    CHECK(a.key->encryption_key().key_block == k.key_block);
    CHECK(a.key->encryption_key().fingerprint == "F1");

    RecipientDecision r;
    r.cls = RecipientClass::Encrypt;
    r.key = a.key;
    RecipientDecision same_key_again = r;  // one key for two recipients is encrypted to once
    const MessageDecision m = decide_message(std::vector<RecipientDecision>{r, same_key_again});
    CHECK(m.fingerprints == std::vector<std::string>{"F1"});
    REQUIRE(m.keys.size() == 1);
    CHECK(m.keys[0].key_block == k.key_block);
}

namespace {

class RecordingEncryptor final : public Encryptor {
public:
    void encrypt_to(ByteSource&, std::span<const EncryptionKey> keys, ByteSink& out) override {
        seen.assign(keys.begin(), keys.end());
        out.write("ciphertext");
    }
    std::vector<EncryptionKey> seen;
};

}  // namespace

TEST_CASE("encrypting by fingerprint is encrypt_to with keyring keys, in the same order") {
    RecordingEncryptor encryptor;
    StringSource in("text");
    std::string out;
    StringSink sink(out);
    const std::vector<std::string> fingerprints{"F1", "F2"};
    encryptor.encrypt(in, fingerprints, sink);
    REQUIRE(encryptor.seen.size() == 2);
    CHECK(encryptor.seen[0].fingerprint == "F1");
    CHECK(encryptor.seen[1].fingerprint == "F2");
    CHECK_FALSE(encryptor.seen[0].key_block);
    CHECK_FALSE(encryptor.seen[1].key_block);
    CHECK(out == "ciphertext");
}
