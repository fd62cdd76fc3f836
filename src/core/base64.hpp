// The base64 alphabet (RFC 4648), the one table every decoder here reads: MIME bodies
// (protection_detect), key files (openpgp_keys) and gpg's armored output (openpgp_message_check).
#pragma once

namespace mdcrypt {

// 0..63 for a base64 character, -1 for anything else ('=' included).
constexpr int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace mdcrypt
