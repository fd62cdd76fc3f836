#include "fake_encryptor.hpp"

namespace mdcrypt::testing {

void FakeEncryptor::encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) {
    ++calls;
    last_keys.assign(keys.begin(), keys.end());
    last_fingerprints.clear();
    for (const auto& key : keys) last_fingerprints.push_back(key.fingerprint);
    last_plaintext = read_all(plaintext);
    if (fail) throw EncryptError("fake engine failure for " + (keys.empty() ? std::string("no key") : keys[0].fingerprint));
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

}  // namespace mdcrypt::testing
