// Start-up and the main loop of mdcrypt-milter: socket, privileges, runtime, signals, smfi_main.
#pragma once

#include <memory>

#include "core/config.hpp"
#include "milter/options.hpp"
#include "milter/runtime.hpp"

namespace mdcrypt::milter {

// Exit status of the daemon (sysexits.h values where one fits).
enum class DaemonExit : int {
    Ok = 0,
    Failure = 1,      // any other start-up failure (spool directory, privileges, libmilter)
    Usage = 64,
    SocketUnavailable = 75,  // EX_TEMPFAIL: the socket cannot be opened or is in use
    Config = 78,      // EX_CONFIG
};

// Runs until SIGTERM/SIGINT; `config` is the configuration loaded at start.
DaemonExit run_daemon(std::shared_ptr<const Config> config, CryptoFactory crypto);

// --check-config: prints the summary (or the error) and returns Ok or Config. Drops privileges to
// [milter] user first when started as root, so the GnuPG home is read as the daemon reads it.
DaemonExit check_config(const Config& config, const CryptoFactory& crypto);

}  // namespace mdcrypt::milter
