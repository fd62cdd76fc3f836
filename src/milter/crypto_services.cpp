#include "milter/crypto_services.hpp"

#include <ctime>

#include "crypto/gpgme_encryptor.hpp"
#include "crypto/key_index.hpp"

namespace mdcrypt::milter {

std::shared_ptr<const CryptoServices> make_gpgme_crypto(const GnupgSettings& gnupg) {
    auto index = std::make_shared<KeyIndex>(gnupg.home, gnupg.trust_model, gnupg.gpg_program);
    auto services = std::make_shared<CryptoServices>();
    services->encryptor = std::make_shared<GpgmeEncryptor>(gnupg.home, gnupg.trust_model, gnupg.gpg_program);
    services->lookup = [index](std::string_view address, std::int64_t now) { return index->lookup(address, now); };
    services->usable_key_count = [index] { return index->usable_key_count(static_cast<std::int64_t>(std::time(nullptr))); };
    return services;
}

}  // namespace mdcrypt::milter
