// Just enough OpenPGP (RFC 4880) to cut a key file into its keys: ASCII armor decoding and the packet
// framing, no cryptography beyond the v4 fingerprint. gpg validates the keys; this only lets the
// encryptor hand gpg exactly the one key that was validated (gpg -f takes the first key of a file).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mdcrypt {

// One transferable public key: its primary key packet and everything up to the next primary key.
struct TransferableKey {
    std::string fingerprint;  // v4: 40 upper-case hex digits; empty for other versions (unusable here)
    std::string packets;      // the binary packets, exactly as in the file (after armor decoding)
};

struct SplitKeys {
    std::vector<TransferableKey> keys;  // in file order
    std::string error;                  // set when the file is not a sequence of public keys
    bool ok() const { return error.empty(); }
};

// Binary when the first byte has its high bit set (an OpenPGP packet tag), else ASCII armor: every
// "-----BEGIN PGP PUBLIC KEY BLOCK-----" block in the text, concatenated; the armor checksum is
// verified when present. Secret key packets or a PRIVATE KEY BLOCK, partial or indeterminate lengths
// and packets before the first public key packet are errors. Error texts never quote the file.
SplitKeys split_public_keys(std::string_view file_bytes);


}  // namespace mdcrypt
