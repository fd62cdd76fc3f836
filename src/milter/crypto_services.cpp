#include "milter/crypto_services.hpp"

#include <ctime>

#include "crypto/gpgme_encryptor.hpp"
#include "crypto/key_sources.hpp"

namespace mdcrypt::milter {

std::shared_ptr<const CryptoServices> make_gpgme_crypto(const GnupgSettings& gnupg) {
    // The [keys] sources in their configured order (keyring, key files, WKD tree).
    auto sources = std::make_shared<KeySources>(gnupg);
    auto services = std::make_shared<CryptoServices>();
    services->encryptor = std::make_shared<GpgmeEncryptor>(gnupg.home, gnupg.trust_model, gnupg.gpg_program);
    services->lookup = key_lookup_fn(sources);
    services->usable_key_count = [sources] {
        return sources->keyring().usable_key_count(static_cast<std::int64_t>(std::time(nullptr)));
    };
    return services;
}

}  // namespace mdcrypt::milter
