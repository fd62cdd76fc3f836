// The real key lookup and encryptor (GPGME or librnp, as [engine] backend says) for a GnuPG home,
// as the runtime's CryptoFactory.
#pragma once

#include <filesystem>
#include <memory>

#include "core/config.hpp"
#include "milter/runtime.hpp"

namespace mdcrypt::milter {

// The configured key sources (KeySources) and one encryptor of the configured engine for the home; throws when the home
// or gpg is unusable. Keys from key files are handed to gpg as private copies in a fresh 0700
// directory under `key_file_dir`, removed when the encryption ends (GpgmeEncryptor::encrypt_to). The
// daemon passes its [milter] spool_directory, which it has made private to its user before the first
// message, so no key copy goes to $TMPDIR. Throws std::invalid_argument when `key_file_dir` is empty.
std::shared_ptr<const CryptoServices> make_gpgme_crypto(const GnupgSettings& gnupg, const std::filesystem::path& key_file_dir);

// make_gpgme_crypto as the runtime's CryptoFactory, with the key file directory fixed when the daemon
// starts: a spool_directory changed by a reload is used for bodies at once, for key copies only after
// a restart (the start-time directory stays private to the daemon meanwhile).
CryptoFactory gpgme_crypto_factory(std::filesystem::path key_file_dir);

}  // namespace mdcrypt::milter
