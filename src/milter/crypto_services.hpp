// The real key lookup and encryptor (GPGME) for a GnuPG home, as the runtime's CryptoFactory.
#pragma once

#include <memory>

#include "core/config.hpp"
#include "milter/runtime.hpp"

namespace mdcrypt::milter {

// The configured key sources (KeySources) and one GpgmeEncryptor for the home; throws when the home
// or gpg is unusable.
std::shared_ptr<const CryptoServices> make_gpgme_crypto(const GnupgSettings& gnupg);

}  // namespace mdcrypt::milter
