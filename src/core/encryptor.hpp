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
    // `armored`, readable by every one of `keys`, in one operation: keyring keys by fingerprint, and
    // keys from outside the engine's keyring by their EncryptionKey::key_block. Throws EncryptError.
    // The one operation every encryptor implements, so none can drop a key it does not know.
    virtual void encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) = 0;

    // encrypt_to for keyring keys named by fingerprint.
    void encrypt(ByteSource& plaintext, std::span<const std::string> fingerprints, ByteSink& armored) {
        std::vector<EncryptionKey> keys;
        keys.reserve(fingerprints.size());
        for (const auto& fingerprint : fingerprints) keys.push_back(EncryptionKey{fingerprint});
        encrypt_to(plaintext, keys, armored);
    }
};

}  // namespace mdcrypt
