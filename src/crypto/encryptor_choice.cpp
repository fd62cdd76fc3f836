#include "crypto/encryptor_choice.hpp"

#include "crypto/gpgme_encryptor.hpp"
#include "crypto/rnp_encryptor.hpp"

namespace mdcrypt {

std::shared_ptr<Encryptor> make_encryptor(const GnupgSettings& gnupg, const std::filesystem::path& key_file_dir) {
    switch (gnupg.backend) {
        case EngineBackend::Rnp: return std::make_shared<RnpEncryptor>(gnupg.home);
        case EngineBackend::Gpgme: break;
    }
    return std::make_shared<GpgmeEncryptor>(gnupg.home, gnupg.trust_model, gnupg.gpg_program, key_file_dir,
                                            std::chrono::seconds(gnupg.timeout_seconds));
}

KeyLister key_lister_for(const GnupgSettings& gnupg) {
    return gnupg.backend == EngineBackend::Rnp && gnupg.trust_model == TrustModel::ServerKeyring ? KeyLister::Rnp
                                                                                                  : KeyLister::Gpg;
}

}  // namespace mdcrypt
