// The core's one encryption of a stored message taken apart, so a batch of messages can share one
// gpg (crypto/gpg_multifile.hpp says why): the core runs once with a RecordingEncryptor, which keeps
// what it would encrypt (the inner MIME entity, in an unlinked file) and to which keys, then stops
// it; after gpg has encrypted the batch, the core runs again with a ReplayingEncryptor, which hands
// back the ciphertext only for exactly the same entity and keys. The core stays the one place that
// decides and builds the message; nothing of its result is taken from the first run.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/encryptor.hpp"
#include "core/file_descriptor.hpp"
#include "core/spool.hpp"

namespace mdcrypt {

struct RecordedEncryption {
    FileDescriptor plaintext;  // the entity, in an unlinked 0600 file
    std::uint64_t size = 0;
    std::vector<EncryptionKey> keys;
};

class RecordingEncryptor final : public Encryptor {
public:
    explicit RecordingEncryptor(std::filesystem::path directory) : directory_(std::move(directory)) {}
    // Copies `plaintext` into a new unlinked file in the (private) directory and keeps `keys`; then
    // throws EncryptError, so the core writes nothing: its verdict from this run is not used.
    void encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) override;
    // What the core asked for; empty when it encrypted nothing (its verdict then stands).
    std::optional<RecordedEncryption> take() { return std::move(recorded_); }

private:
    std::filesystem::path directory_;
    std::optional<RecordedEncryption> recorded_;
};

class ReplayingEncryptor final : public Encryptor {
public:
    // `recorded` and `armored` (the ciphertext of recorded.plaintext to recorded.keys) must outlive it.
    ReplayingEncryptor(const RecordedEncryption& recorded, const Spool& armored) : recorded_(recorded), armored_(armored) {}
    // Writes the ciphertext when `keys` and the whole of `plaintext` are what was recorded; throws
    // EncryptError otherwise, so a second run that differs in any byte cannot get the first's ciphertext.
    void encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) override;

private:
    const RecordedEncryption& recorded_;
    const Spool& armored_;
};

// The fingerprints one `gpg --multifile` run can encrypt a recording to, in order; empty when a key
// comes with its key block (a key file, WKD or LDAP: not in gpg's keyring), which only the per-message
// path hands to gpg.
std::vector<std::string> keyring_fingerprints(const RecordedEncryption& recorded);

}  // namespace mdcrypt
