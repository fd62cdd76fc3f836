// The Web Key Directory's file naming (draft-koch-openpgp-webkey-service, section 3.1): a local part is
// found under the z-base-32 encoding of the SHA-1 of its ASCII lower-cased form.
#pragma once

#include <string>
#include <string_view>

namespace mdcrypt {

// z-base-32 (the alphabet "ybndrfg8ejkmcpqxot1uwisza345h769"), most significant bit first, without
// padding: 5 bits per character, the last one zero-filled.
std::string zbase32_encode(std::string_view bytes);

// The 32-character name of a local part's key file: "Joe.Doe" -> "iy9q119eutrkn8s1mk4r39qejnbu3n5q".
// Only ASCII letters are lower-cased, as gpg does.
std::string wkd_hash(std::string_view local_part);

}  // namespace mdcrypt
