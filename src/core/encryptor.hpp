// The one operation the core needs from OpenPGP: encrypt a byte stream to some keys, ASCII-armored.
#pragma once

#include <span>
#include <stdexcept>
#include <string>

#include "core/bytes.hpp"

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
};

}  // namespace mdcrypt
