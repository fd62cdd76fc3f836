#include "crypto/encryption_key_names.hpp"

namespace mdcrypt {

bool is_fingerprint(std::string_view s) {
    if (s.size() != 40 && s.size() != 64) return false;  // v4, v5
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 80)) {
        const auto u = static_cast<unsigned char>(c);
        out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
    }
    return s.size() > 80 ? out + "..." : out;
}

std::string describe_keys(std::span<const EncryptionKey> keys) {
    std::string out;
    for (const auto& k : keys) out += (out.empty() ? "" : ", ") + k.fingerprint + (k.key_block ? " (key file)" : "");
    return out;
}

}  // namespace mdcrypt
