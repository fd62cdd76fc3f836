// mdcrypt-keys: the server keyring's key tool. Runs gpg in the milter's GnuPG home as the milter's user
// ([milter] user), so ownership stays right whoever runs it, and keeps the home's mdcrypt-expected-keys
// in step, so a key leaves the keyring only on purpose.
#include <sysexits.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "crypto/explain.hpp"
#include "crypto/gpg_locale.hpp"
#include "keytool/keyring_admin.hpp"
#include "milter/options.hpp"
#include "milter/privileges.hpp"

using namespace mdcrypt;
using namespace mdcrypt::keytool;

namespace {

constexpr const char* kDefaultConfig = mdcrypt::milter::kDefaultConfigFile;
constexpr const char* kUsage =
    "usage: mdcrypt-keys [--config FILE] COMMAND\n"
    "  list                 every key in the server keyring, its addresses and the milter's verdict\n"
    "  import FILE|-        import public keys (refused unless usable for one of their addresses)\n"
    "  remove FPR|ADDRESS   remove a key, or every key of an address\n"
    "  check ADDRESS...     what the milter would do for these recipients (as --explain)\n"
    "  record               record the keyring as it is now in mdcrypt-expected-keys\n"
    "The default FILE is " MDCRYPT_SYSCONFDIR "/mdcrypt-milter/mdcrypt-milter.toml.\n";

int usage_error(const std::string& what) {
    std::cerr << "mdcrypt-keys: " << what << "\n" << kUsage;
    return EX_USAGE;
}

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

void print(const KeyReport& key) {
    std::cout << key.fingerprint << (key.recorded ? "" : "  (not recorded)") << "\n";
    if (key.addresses.empty()) std::cout << "  no user ID with an e-mail address: never used\n";
    for (const auto& a : key.addresses)
        std::cout << "  " << a.address << ": " << (a.usable ? std::string("usable") : "not used: " + a.reason) << "\n";
}

// As the milter's user: files gpg writes in the home (keyring, trustdb, locks) must stay theirs.
void become_milter_user(const Config& config) {
    if (::geteuid() != 0) return;
    if (config.milter.user.empty()) {
        std::cerr << "mdcrypt-keys: warning: running as root and [milter] user is not set: files gpg writes in "
                  << config.gnupg.home.string() << " belong to root\n";
        return;
    }
    milter::drop_privileges(milter::resolve_identity(config.milter.user, config.milter.group));
}

std::string read_all(std::istream& in) { return std::string(std::istreambuf_iterator<char>(in), {}); }

}  // namespace

int main(int argc, char** argv) {
    pin_gpg_locale();
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string config_file = kDefaultConfig;
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
        std::cout << kUsage;
        return EX_OK;
    }
    if (args.size() >= 2 && args[0] == "--config") {
        config_file = args[1];
        args.erase(args.begin(), args.begin() + 2);
    }
    if (args.empty()) return usage_error("a command is required");
    const std::string command = args[0];
    const std::vector<std::string> operands(args.begin() + 1, args.end());

    try {
        const auto config = load_config(config_file);
        become_milter_user(*config);
        const KeyringAdmin admin(config->gnupg.home, config->gnupg.trust_model, config->gnupg.gpg_program);

        if (command == "list" && operands.empty()) {
            const KeyringReport report = admin.report(now());
            for (const auto& key : report.keys) print(key);
            for (const auto& lost : report.missing)
                std::cout << lost << "  MISSING: recorded but not in the keyring; mail to its addresses is deferred\n";
            if (!report.has_expected_keys)
                std::cout << "no mdcrypt-expected-keys in " << config->gnupg.home.string()
                          << ": run mdcrypt-keys record so that lost keys are noticed\n";
            std::cout << report.keys.size() << " key(s)\n";
            return report.missing.empty() ? EX_OK : EX_DATAERR;
        }
        if (command == "import" && operands.size() == 1) {
            std::string data;
            if (operands[0] == "-") {
                data = read_all(std::cin);
            } else {
                std::ifstream in(operands[0], std::ios::binary);
                if (!in) return std::cerr << "mdcrypt-keys: cannot read " << operands[0] << "\n", EX_NOINPUT;
                data = read_all(in);
            }
            for (const auto& key : admin.import_keys(data, now())) print(key);
            return EX_OK;
        }
        if (command == "remove" && operands.size() == 1) {
            for (const auto& fingerprint : admin.remove(operands[0])) std::cout << "removed " << fingerprint << "\n";
            return EX_OK;
        }
        if (command == "record" && operands.empty()) {
            std::cout << "recorded " << admin.record() << " key(s) in " << config->gnupg.home.string() << "/mdcrypt-expected-keys\n";
            return EX_OK;
        }
        if (command == "check" && !operands.empty()) {
            const ExplainReport report = explain_addresses(*config, operands, now());
            std::cout << report.text;
            return report.any_lookup_failed ? EX_TEMPFAIL : EX_OK;
        }
        return usage_error("unknown command or wrong number of arguments: " + command);
    } catch (const ConfigError& e) {
        std::cerr << "mdcrypt-keys: " << e.what() << "\n";
        return EX_CONFIG;
    } catch (const std::exception& e) {
        std::cerr << "mdcrypt-keys: " << e.what() << "\n";
        return EX_DATAERR;
    }
}
