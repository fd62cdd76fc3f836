#include "milter/crypto_services.hpp"

#include <ctime>
#include <stdexcept>

#include "crypto/gpg_operation.hpp"
#include "crypto/encryptor_choice.hpp"
#include "crypto/key_sources.hpp"
#include "milter/logging.hpp"

namespace mdcrypt::milter {

std::shared_ptr<const CryptoServices> make_gpgme_crypto(const GnupgSettings& gnupg, const std::filesystem::path& key_file_dir) {
    // GpgmeEncryptor would fall back to $TMPDIR: the daemon always says where key copies go.
    if (key_file_dir.empty()) throw std::invalid_argument("no directory for the private copies of key files");
    // The [keys] sources in their configured order (keyring, key files, WKD tree).
    auto sources = std::make_shared<KeySources>(gnupg, [](std::string_view text) { log_warning(text); });
    auto services = std::make_shared<CryptoServices>();
    // [engine] backend: GPGME or librnp. The key lookup above is the same for both (docs/design.md).
    services->encryptor = make_encryptor(gnupg, key_file_dir);
    services->lookup = key_lookup_fn(sources);
    services->usable_key_count = [sources] {
        return sources->keyring().usable_key_count(static_cast<std::int64_t>(std::time(nullptr)));
    };
    services->stop_all = stop_gpg_operations;
    if (gnupg.backend == EngineBackend::Rnp && key_lister_for(gnupg) == KeyLister::Rnp) {
        // Neither encryption nor key listing runs gpg: a server without a working gpg is healthy.
        services->check_gpg = [] {};
    } else {
        auto probe = std::make_shared<GpgEngine>(gnupg.home, gnupg.gpg_program, std::chrono::seconds(gnupg.timeout_seconds));
        services->check_gpg = [probe] { probe->probe(); };
    }
    if (sources->ldap()) {
        services->check_directory = [sources]() -> std::optional<std::string> {
            // An address no directory holds: the answer is "no entry" when servers, TLS and bind work.
            const LdapAnswer answer = sources->ldap()->directory().search("mdcrypt-check-config", "invalid");
            if (answer.status == LdapAnswer::Status::Error) return answer.reason;
            return std::nullopt;
        };
    }
    return services;
}

CryptoFactory gpgme_crypto_factory(std::filesystem::path key_file_dir) {
    return [key_file_dir = std::move(key_file_dir)](const GnupgSettings& gnupg) { return make_gpgme_crypto(gnupg, key_file_dir); };
}

}  // namespace mdcrypt::milter
