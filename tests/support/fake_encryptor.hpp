// A stand-in for OpenPGP in unit tests of the layers above the Encryptor interface: it records what it
// was asked to encrypt and emits a deterministic armor-shaped text.
#pragma once

#include <atomic>
#include <span>
#include <string>
#include <vector>

#include "core/encryptor.hpp"

namespace mdcrypt::testing {

class FakeEncryptor final : public Encryptor {
public:
    // Records the keys (key blocks included) and their fingerprints, then writes a deterministic
    // armor-shaped text of the plaintext.
    void encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) override;

    std::string last_plaintext;
    std::vector<std::string> last_fingerprints;
    std::vector<EncryptionKey> last_keys;
    std::atomic<int> calls{0};    // atomic: the milter's limiter tests encrypt from several threads
    bool fail = false;            // throw EncryptError instead
    std::string extra_armor_line; // inserted verbatim into the armor (boundary collision tests)
};

}  // namespace mdcrypt::testing
