// What every connection shares: the current configuration snapshot with the crypto services built
// for it, and the cap on concurrent encryptions. A reload (SIGHUP) builds a complete new snapshot
// first and swaps it in only when everything succeeded; connections keep the snapshot they pinned.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/encryptor.hpp"
#include "core/processor.hpp"
#include "milter/limiter.hpp"

namespace mdcrypt::milter {

// Key lookup and encryption for one GnuPG home.
struct CryptoServices {
    KeyLookupFn lookup;
    std::shared_ptr<Encryptor> encryptor;
    std::function<std::size_t()> usable_key_count;  // may be empty; for --check-config and logs
    std::function<void()> stop_all;  // process stop: ends every running encryption now; may be empty
    std::function<void()> check_gpg;  // runs gpg once; throws saying why it failed; may be empty; does nothing when nothing runs gpg (backend rnp, keys listed by librnp)
    // The ldap source's directory, asked once: why it cannot be used, nullopt when it answers; empty
    // when the sources do not list "ldap".
    std::function<std::optional<std::string>()> check_directory;
};

using CryptoFactory = std::function<std::shared_ptr<const CryptoServices>(const GnupgSettings&)>;
using ConfigLoader = std::function<std::shared_ptr<const Config>(const std::filesystem::path&)>;
using DirectoryPreparer = std::function<void(const std::filesystem::path&)>;

// An immutable pair: a config and the crypto services built from its [gnupg] section.
struct Snapshot {
    std::shared_ptr<const Config> config;
    std::shared_ptr<const CryptoServices> crypto;
    std::uint64_t generation = 0;  // 1 for the config loaded at start, +1 per successful reload
};

struct ReloadResult {
    bool ok = false;
    std::string error;                  // when !ok: what was wrong, with file:line for config errors
    std::vector<std::string> warnings;  // settings that only take effect after a restart
};

class Runtime {
public:
    // Builds the first snapshot from an already loaded config; throws what the factory throws.
    Runtime(std::shared_ptr<const Config> initial, ConfigLoader loader, CryptoFactory crypto,
            DirectoryPreparer prepare_spool);
    Runtime(const Runtime&) = delete;
    Runtime& operator=(const Runtime&) = delete;

    std::shared_ptr<const Snapshot> current() const;

    // Re-reads the main file the current config came from (and its policy file). On any error the
    // current snapshot stays. Crypto services are reused when the [gnupg] section is unchanged.
    ReloadResult reload();

    Limiter& limiter() { return limiter_; }

private:
    ConfigLoader loader_;
    CryptoFactory crypto_factory_;
    DirectoryPreparer prepare_spool_;
    std::mutex reload_mutex_;  // one reload at a time
    mutable std::mutex snapshot_mutex_;
    std::shared_ptr<const Snapshot> snapshot_;
    Limiter limiter_;
};

}  // namespace mdcrypt::milter
