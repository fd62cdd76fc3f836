// What the core knows about OpenPGP keys: plain data filled in by the crypto layer, and the pure rule
// that says whether a key may be used for an address at a given time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mdcrypt {

struct SubkeyFacts {
    bool can_encrypt = false;
    bool revoked = false;
    bool disabled = false;
    bool invalid = false;
    std::int64_t expires = 0;  // seconds since the epoch; 0 = never
};

struct UserIdFacts {
    std::string address;  // the user ID's e-mail address as stored in the key
    bool revoked = false;
    bool invalid = false;
};

struct KeyFacts {
    std::string fingerprint;  // primary key
    bool revoked = false;
    bool disabled = false;
    bool invalid = false;
    std::int64_t expires = 0;  // primary key expiry; 0 = never
    std::vector<UserIdFacts> user_ids;
    std::vector<SubkeyFacts> subkeys;  // including the primary key itself, first
    std::string source;                // where the key came from, for logs ("keyring", a file path, ...)
    // For a key that is not in the GnuPG home (read from a key file): exactly this one key's OpenPGP
    // packets, binary, as they were validated. Null for keyring keys.
    std::shared_ptr<const std::string> key_block{};
};

// How the encryptor is to find a key: by fingerprint in its GnuPG home, or, when `key_block` is set,
// in those bytes (one transferable public key, handed to gpg as a private file; never imported).
struct EncryptionKey {
    std::string fingerprint;
    std::shared_ptr<const std::string> key_block{};
};

// A key chosen for a recipient.
struct UsableKey {
    std::string fingerprint;
    std::int64_t expires = 0;  // the encryption subkey's effective expiry; 0 = never
    std::string source;
    std::shared_ptr<const std::string> key_block{};  // as KeyFacts::key_block

    EncryptionKey encryption_key() const { return {fingerprint, key_block}; }
};

struct KeyAssessment {
    std::optional<UsableKey> key;  // set when usable
    std::string reason;            // why not, when not usable
};

// Address comparison used for key user IDs: ASCII case-insensitive on the whole address
// (mail systems deliver Alice@ and alice@ to one mailbox; gpg matches user IDs the same way).
bool same_address(std::string_view a, std::string_view b);

// A usable key: not revoked, disabled, invalid or expired at `now`; a user ID that is itself valid and
// whose address equals `address`; and at least one valid, unexpired encryption-capable (sub)key.
KeyAssessment assess_key(const KeyFacts& key, std::string_view address, std::int64_t now);

// Of several keys for one address, the usable one whose encryption subkey lives longest
// (ties: the first). reason lists why each candidate was rejected when none is usable.
KeyAssessment choose_key(const std::vector<KeyFacts>& candidates, std::string_view address, std::int64_t now);

}  // namespace mdcrypt
