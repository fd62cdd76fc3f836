// mdcrypt-milter: encrypts mail for local recipients with known OpenPGP keys (PGP/MIME, RFC 3156).
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iostream>
#include <span>

#include "core/config.hpp"
#include "crypto/explain.hpp"
#include "crypto/gpg_locale.hpp"
#include "milter/crypto_services.hpp"
#include "milter/daemon.hpp"
#include "milter/logging.hpp"
#include "milter/options.hpp"

using namespace mdcrypt;
using namespace mdcrypt::milter;

int main(int argc, char** argv) {
    pin_gpg_locale();
    const auto parsed = parse_options(std::span<const char* const>(argv + 1, static_cast<std::size_t>(argc > 0 ? argc - 1 : 0)));
    if (!parsed.options) {
        std::cerr << "mdcrypt-milter: " << parsed.error << "\n" << usage_text("mdcrypt-milter");
        return static_cast<int>(DaemonExit::Usage);
    }
    const Options& options = *parsed.options;
    if (options.show_help) {
        std::cout << usage_text("mdcrypt-milter");
        return 0;
    }
    if (options.show_version) {
        std::cout << "mdcrypt-milter " MDCRYPT_VERSION "\n";
        return 0;
    }

    LogOptions logging;
    const bool tool = options.check_config || !options.explain_addresses.empty();  // run once, answer on the terminal
    logging.to_syslog = !tool;
    logging.to_stderr = options.log_stderr || tool || ::isatty(STDERR_FILENO) == 1;
    init_logging(logging);

    std::shared_ptr<const Config> config;
    try {
        config = load_config(options.config_file);
    } catch (const std::exception& e) {
        // ConfigError reads "FILE:LINE:COLUMN: key '...': what is wrong".
        if (!logging.to_stderr) std::cerr << "mdcrypt-milter: " << e.what() << "\n";
        log_error(e.what());
        return static_cast<int>(DaemonExit::Config);
    }
    set_log_verbose(config->milter.log_verbose);
    // librnp's diagnostics (unconditional on stderr in Debian's build) become log lines of their own.
    if (!tool && !forward_stderr_to_log("librnp/stderr:")) log_warning("cannot forward stderr to the log: " + std::string(std::strerror(errno)));

    // Private copies of keys from key files go under the spool directory, which run_daemon makes
    // private to the daemon's user before the first message (never under $TMPDIR).
    const CryptoFactory crypto = gpgme_crypto_factory(config->milter.spool_directory);
    if (options.check_config) return static_cast<int>(check_config(*config, crypto));
    if (!options.explain_addresses.empty()) {
        try {
            const ExplainReport report =
                explain_addresses(*config, options.explain_addresses, static_cast<std::int64_t>(std::time(nullptr)));
            std::cout << report.text << std::flush;
            return report.any_lookup_failed ? 75 : 0;  // EX_TEMPFAIL: a key source failed for some address
        } catch (const std::exception& e) {
            log_error(std::string("--explain: ") + e.what());
            return static_cast<int>(DaemonExit::Failure);
        }
    }
    return static_cast<int>(run_daemon(std::move(config), crypto));
}
