// How the encryptors name the keys they are given, in checks and in error texts: shared by the GPGME
// and the RNP engine so both refuse the same strings and log keys the same way.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "core/keys.hpp"

namespace mdcrypt {

// A v4 (40) or v5 (64) hex fingerprint.
bool is_fingerprint(std::string_view s);
// Up to 80 bytes of `s` with anything unprintable as '?': a rejected value shown in a log line.
std::string printable(std::string_view s);
// "FPR, FPR (key file)": the keys of one encryption, for its error texts.
std::string describe_keys(std::span<const EncryptionKey> keys);

}  // namespace mdcrypt
