// The core's Encryptor on GPGME: one gpg process per message, streamed, ASCII-armored.
#pragma once

#include <filesystem>
#include <span>
#include <string>

#include "core/config.hpp"
#include "core/encryptor.hpp"
#include "crypto/gpg_engine.hpp"

namespace mdcrypt {

class GpgmeEncryptor final : public Encryptor {
public:
    // Encrypts with the public keys in `home`. `gpg_program` empty means GPGME's default gpg. Under
    // TrustModel::ServerKeyring every key in the home is trusted (gpg --always-trust); under
    // GnupgTrustDb gpg's trust database must give the key full validity. Throws GpgmeInitError.
    GpgmeEncryptor(std::filesystem::path home, TrustModel trust, std::filesystem::path gpg_program = {});

    // Streams `plaintext` through gpg into `armored` (LF line ends); neither is held whole in memory.
    // `fingerprints` are primary key fingerprints (40 or 64 hex digits); gpg picks each key's
    // encryption subkey. No key lookup and no network: the keys must be in the home. Throws
    // EncryptError with GPGME's error, gpg's reason per rejected key and the fingerprints; exceptions
    // from the source or sink are rethrown as they were.
    void encrypt(ByteSource& plaintext, std::span<const std::string> fingerprints, ByteSink& armored) override;

private:
    GpgEngine engine_;
    TrustModel trust_;
};

}  // namespace mdcrypt
