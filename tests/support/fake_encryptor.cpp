#include "fake_encryptor.hpp"

namespace mdcrypt::testing {

void FakeEncryptor::encrypt(ByteSource& plaintext, std::span<const std::string> fingerprints, ByteSink& armored) {
    ++calls;
    last_plaintext = read_all(plaintext);
    last_fingerprints.assign(fingerprints.begin(), fingerprints.end());
    if (fail) throw EncryptError("fake engine failure for " + (fingerprints.empty() ? std::string("no key") : fingerprints[0]));
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out = "-----BEGIN PGP MESSAGE-----\n\n";
    if (!extra_armor_line.empty()) out += extra_armor_line + "\n";
    std::string line;
    for (unsigned char c : last_plaintext) {
        line.push_back(hex[c >> 4]);
        line.push_back(hex[c & 15]);
        if (line.size() == 64) {
            out += line + "\n";
            line.clear();
        }
    }
    if (!line.empty()) out += line + "\n";
    out += "=FAKE\n-----END PGP MESSAGE-----\n";
    armored.write(out);
}

void FakeEncryptor::encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) {
    last_keys.assign(keys.begin(), keys.end());
    std::vector<std::string> fingerprints;
    for (const auto& key : keys) fingerprints.push_back(key.fingerprint);
    encrypt(plaintext, fingerprints, armored);
}

}  // namespace mdcrypt::testing
