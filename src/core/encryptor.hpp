// The one operation the core needs from OpenPGP: encrypt a byte stream to some keys, ASCII-armored.
#pragma once

#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "core/keys.hpp"

namespace mdcrypt {

// Encryption failed; what() carries the engine's reason and the keys involved.
class EncryptError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Encryptor {
public:
    virtual ~Encryptor() = default;
    // Reads all of `plaintext`, writes an ASCII-armored OpenPGP message (LF or CRLF line ends) to
    // `armored`, readable by every key in `fingerprints`. Throws EncryptError.
    virtual void encrypt(ByteSource& plaintext, std::span<const std::string> fingerprints, ByteSink& armored) = 0;

    // The same for keys that may come from outside the engine's keyring (EncryptionKey::key_block),
    // all in one operation. What the core calls. This default serves keyring keys only and throws
    // EncryptError for a key with a key block, so an encryptor that does not know key blocks (or a
    // wrapper that does not forward this call) fails closed instead of dropping a recipient.
    virtual void encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) {
        std::vector<std::string> fingerprints;
        for (const auto& key : keys) {
            if (key.key_block) throw EncryptError("this encryptor cannot encrypt to key " + key.fingerprint + " from a key file");
            fingerprints.push_back(key.fingerprint);
        }
        encrypt(plaintext, fingerprints, armored);
    }
};

}  // namespace mdcrypt
