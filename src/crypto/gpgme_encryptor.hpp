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
    // GnupgTrustDb gpg's trust database must give the key full validity. `key_file_dir` is where the
    // private copies of keys from key files are written (see encrypt_to); empty means $TMPDIR, else
    // /tmp. One encryption may take `timeout`; then gpg is killed and encrypt() throws. Throws
    // GpgmeInitError.
    GpgmeEncryptor(std::filesystem::path home, TrustModel trust, std::filesystem::path gpg_program = {},
                   std::filesystem::path key_file_dir = {}, std::chrono::seconds timeout = kDefaultGpgTimeout);

    // Streams `plaintext` through gpg into `armored` (LF line ends); neither is held whole in memory.
    // Keyring keys go by primary key fingerprint (40 or 64 hex digits); gpg picks each key's
    // encryption subkey; no key lookup and no network. A key with a key block (from a key file; not
    // in the home) is passed to gpg as a file (gpgme recipient string "--file", gpg -f, GnuPG >= 2.1.14): a private copy of exactly the
    // validated bytes, mode 0600 in a fresh 0700 mkdtemp directory under key_file_dir, removed when
    // the operation ends. The user's own file is never handed to gpg, so replacing it meanwhile
    // changes nothing. Each block must hold exactly one key, the one its fingerprint names (checked
    // again here). Keyring and file keys go into the same single gpg process. Throws EncryptError
    // with GPGME's error, gpg's reason per rejected key and the fingerprints; exceptions from the
    // source or sink are rethrown as they were.
    void encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) override;

private:
    GpgEngine engine_;
    TrustModel trust_;
    std::filesystem::path key_file_dir_;
};

}  // namespace mdcrypt
