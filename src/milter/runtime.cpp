#include "milter/runtime.hpp"

#include <exception>
#include <stdexcept>
#include <utility>

namespace mdcrypt::milter {

namespace {

bool same_gnupg(const GnupgSettings& a, const GnupgSettings& b) {
    return a.home == b.home && a.trust_model == b.trust_model && a.gpg_program == b.gpg_program && a.keys == b.keys &&
           a.backend == b.backend;
}

std::shared_ptr<const CryptoServices> build_crypto(const CryptoFactory& factory, const GnupgSettings& gnupg) {
    auto crypto = factory(gnupg);
    if (!crypto || !crypto->lookup || !crypto->encryptor)
        throw std::runtime_error("no key lookup or encryptor for GnuPG home " + gnupg.home.string());
    return crypto;
}

// Settings bound to the listening socket or the process, read once at start.
std::vector<std::string> restart_only_changes(const MilterSettings& old_settings, const MilterSettings& new_settings) {
    std::vector<std::string> changed;
    auto check = [&](bool differs, const char* key) {
        if (differs) changed.push_back(std::string("milter.") + key + " changed; it takes effect after a restart");
    };
    check(old_settings.socket != new_settings.socket, "socket");
    check(old_settings.socket_mode != new_settings.socket_mode, "socket_mode");
    check(old_settings.socket_group != new_settings.socket_group, "socket_group");
    check(old_settings.user != new_settings.user, "user");
    check(old_settings.group != new_settings.group, "group");
    check(old_settings.timeout_seconds != new_settings.timeout_seconds, "timeout_seconds");
    return changed;
}

}  // namespace

Runtime::Runtime(std::shared_ptr<const Config> initial, ConfigLoader loader, CryptoFactory crypto,
                 DirectoryPreparer prepare_spool)
    : loader_(std::move(loader)),
      crypto_factory_(std::move(crypto)),
      prepare_spool_(std::move(prepare_spool)),
      limiter_(effective_encryption_limit(initial->milter.max_concurrent_encryptions)) {
    auto snapshot = std::make_shared<Snapshot>();
    snapshot->crypto = build_crypto(crypto_factory_, initial->gnupg);
    snapshot->config = std::move(initial);
    snapshot->generation = 1;
    snapshot_ = std::move(snapshot);
}

std::shared_ptr<const Snapshot> Runtime::current() const {
    std::lock_guard lock(snapshot_mutex_);
    return snapshot_;
}

ReloadResult Runtime::reload() {
    std::lock_guard reload_lock(reload_mutex_);
    const auto old = current();
    ReloadResult result;
    try {
        auto next = std::make_shared<Snapshot>();
        next->config = loader_(old->config->file);
        if (!next->config) throw std::runtime_error("the configuration loader returned nothing");
        next->crypto = same_gnupg(old->config->gnupg, next->config->gnupg)
                           ? old->crypto
                           : build_crypto(crypto_factory_, next->config->gnupg);
        if (next->config->milter.spool_directory != old->config->milter.spool_directory && prepare_spool_)
            prepare_spool_(next->config->milter.spool_directory);
        next->generation = old->generation + 1;
        result.warnings = restart_only_changes(old->config->milter, next->config->milter);
        if (old->config->metrics != next->config->metrics)
            result.warnings.push_back("metrics.listen changed; it takes effect after a restart");
        limiter_.set_limit(effective_encryption_limit(next->config->milter.max_concurrent_encryptions));
        std::lock_guard lock(snapshot_mutex_);
        snapshot_ = std::move(next);
        result.ok = true;
    } catch (const std::exception& e) {
        result.error = e.what();
    }
    return result;
}

}  // namespace mdcrypt::milter
