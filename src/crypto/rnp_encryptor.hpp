// The core's Encryptor on librnp: in-process, streamed, ASCII-armored, with the public keys of the
// same GnuPG home the GPGME engine uses.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "core/encryptor.hpp"
#include "crypto/file_stamp.hpp"
#include "crypto/rnp_handles.hpp"

namespace mdcrypt {

// Compression of the literal data inside the encryption. None is what the engine uses (docs/design.md:
// measured in bench/rnp_compression); Zlib exists for that measurement.
enum class RnpCompression { None, Zlib };

class RnpEncryptor final : public Encryptor {
public:
    // Encrypts to keys of `home`'s pubring.kbx (or pubring.gpg when there is no pubring.kbx, as gpg
    // does). Nothing is read here: the keyring is loaded by the first encryption.
    explicit RnpEncryptor(std::filesystem::path home, RnpCompression compression = RnpCompression::None);
    ~RnpEncryptor() override;

    // Streams `plaintext` into `armored` (CRLF line ends, as librnp writes armor; AES-256, no AEAD: what GnuPG
    // 2.2 reads); neither is held whole in memory. Keys are primary key fingerprints chosen by the key
    // lookup; for each, the encryption subkey gpg would take is used (the newest valid, unrevoked,
    // unexpired encryption-capable subkey; the primary key only when no subkey qualifies). A key with
    // a key block (from a key file) is imported from exactly those bytes into a private ffi object for
    // this one operation; the keyring itself is never written. Recipient key IDs are not hidden.
    // Throws EncryptError naming the keys and the home (unreadable or damaged keyring, a key that is
    // not there or has no usable encryption key, an RNP error); exceptions from the source or sink are
    // rethrown as they were.
    void encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) override;

private:
    // An ffi object with the keyring as it was when `stamp` was taken. rnp_ffi_t is not thread-safe:
    // one is lent to one operation at a time, and returned when it ends.
    struct LoadedKeyring {
        FileStamp kbx;
        FileStamp gpg;
        RnpFfi ffi;
    };
    std::unique_ptr<LoadedKeyring> borrow_keyring();
    void give_back(std::unique_ptr<LoadedKeyring> keyring);
    std::unique_ptr<LoadedKeyring> load_keyring() const;

    std::filesystem::path home_;
    RnpCompression compression_;
    std::mutex mutex_;
    std::vector<std::unique_ptr<LoadedKeyring>> idle_;  // guarded by mutex_
};

}  // namespace mdcrypt
