// What a GnuPG public keyring file holds, read from its own framing, so that a key listing by gpg can be
// checked against it. gpg lists nothing and exits 0 for a keybox whose blobs are damaged, and GPGME does
// not report gpg's exit status for a listing: without this check a damaged keyring reads as "no key" and
// mail that should be encrypted passes in plain text.
//
// Formats: the keybox (pubring.kbx, GnuPG 2.1+: a 32-byte header blob "KBXf", then blobs of
// [u32 length][u8 type]...; type 2 holds one OpenPGP key with its fingerprints in a fixed table) and the
// legacy keyring (pubring.gpg: a stream of OpenPGP packets, one public key packet per key). Only framing
// is checked, no cryptography. Pure: the caller reads the file.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mdcrypt {

struct KeyringContents {
    // Primary key fingerprints in file order, upper-case hex (40 digits for v4 keys; the first 20 bytes
    // for longer ones). One entry per key gpg lists by default (ephemeral and deleted blobs are not).
    std::vector<std::string> fingerprints;
    std::string error;  // set when the file is not a well-formed keyring; names the byte offset
    bool ok() const { return error.empty(); }
};

// Limits stated where enforced: a keybox blob larger than this is damage, not a key (gpg's own limit
// for a keyblock is 5 MB; kbxutil skips larger ones as "long blobs").
inline constexpr std::size_t kMaxKeyboxBlob = std::size_t{16} << 20;

// pubring.kbx. A zero-length file is an error: GnuPG always writes the header blob.
KeyringContents read_keybox(std::string_view bytes);

// pubring.gpg. A zero-length file is an error too (see README: a home meant to hold no keys has no
// keyring file, or an empty keybox).
KeyringContents read_legacy_keyring(std::string_view bytes);

}  // namespace mdcrypt
