// The Encryptor [engine] backend names: GPGME (a gpg process per message) or librnp (in-process).
#pragma once

#include <filesystem>
#include <memory>

#include "core/config.hpp"
#include "core/encryptor.hpp"
#include "crypto/key_index.hpp"

namespace mdcrypt {

// The configured engine for `gnupg`'s home. `key_file_dir` is where GpgmeEncryptor writes its private
// copies of key files (RnpEncryptor reads key blocks from memory and needs none). Throws what the
// engine's constructor throws.
std::shared_ptr<Encryptor> make_encryptor(const GnupgSettings& gnupg, const std::filesystem::path& key_file_dir);

// What lists keys for `gnupg`'s key sources: librnp when the backend is rnp and the trust model is the
// server keyring's, so that such a server starts no gpg for lookups; gpg otherwise (librnp cannot read
// gpg's trust database).
KeyLister key_lister_for(const GnupgSettings& gnupg);

}  // namespace mdcrypt
