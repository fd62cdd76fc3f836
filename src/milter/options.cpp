#include "milter/options.hpp"

#include <string_view>

namespace mdcrypt::milter {

ParsedOptions parse_options(std::span<const char* const> args) {
    ParsedOptions result;
    Options options;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i] ? args[i] : "";
        if (arg == "--config" || arg == "-c") {
            if (i + 1 >= args.size() || !args[i + 1] || !*args[i + 1]) {
                result.error = std::string(arg) + " needs a file name";
                return result;
            }
            options.config_file = args[++i];
        } else if (arg.starts_with("--config=")) {
            const auto file = arg.substr(9);
            if (file.empty()) {
                result.error = "--config needs a file name";
                return result;
            }
            options.config_file = std::string(file);
        } else if (arg == "--check-config") {
            options.check_config = true;
        } else if (arg == "--version" || arg == "-V") {
            options.show_version = true;
        } else if (arg == "--help" || arg == "-h") {
            options.show_help = true;
        } else if (arg == "--log-stderr") {
            options.log_stderr = true;
        } else if (arg == "--explain") {
            for (++i; i < args.size(); ++i) options.explain_addresses.emplace_back(args[i] ? args[i] : "");
            if (options.explain_addresses.empty()) {
                result.error = "--explain needs at least one address";
                return result;
            }
        } else {
            result.error = "unknown argument '" + std::string(arg) + "'";
            return result;
        }
    }
    result.options = options;
    return result;
}

std::string usage_text(std::string_view program) {
    std::string p(program);
    return "Usage: " + p + " [--config FILE] [--log-stderr]\n"
           "       " + p + " --config FILE --check-config\n"
           "       " + p + " --config FILE --explain ADDR [ADDR ...]\n"
           "       " + p + " --version | --help\n"
           "\n"
           "Encrypts mail for local recipients with known OpenPGP keys to PGP/MIME (RFC 3156),\n"
           "as a milter for Postfix and Sendmail. Runs in the foreground.\n"
           "\n"
           "  -c, --config FILE  main configuration file (default " + std::string(kDefaultConfigFile) + ")\n"
           "      --check-config validate the configuration and policy files, print a summary, exit\n"
           "      --explain ADDR...  for each address: local or not, its mode and the policy entry that\n"
           "                     set it, what each key source gave (key, expiry, file) or why nothing\n"
           "                     usable, and its class; then exit (75 if a key source failed)\n"
           "      --log-stderr   log to stderr as well as to syslog (default when stderr is a terminal)\n"
           "  -V, --version      print the version and exit\n"
           "  -h, --help         print this help and exit\n"
           "\n"
           "Signals: SIGHUP re-reads the configuration and policy (a broken file is logged and the\n"
           "running configuration kept); SIGTERM and SIGINT stop gracefully.\n"
           "Exit status: 0 normal stop, 64 bad command line, 75 socket cannot be opened,\n"
           "78 bad configuration, 1 other start-up failure.\n";
}

}  // namespace mdcrypt::milter
