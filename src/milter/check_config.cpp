#include "milter/check_config.hpp"

#include <fstream>

#include "milter/limiter.hpp"

namespace mdcrypt::milter {

std::string describe_config(const Config& config, std::optional<std::size_t> usable_keys) {
    const auto& m = config.milter;
    std::string out;
    out += "configuration: " + config.file.string() + "\n";
    out += "policy: " + config.policy_file.string() + "\n";
    out += "socket: " + m.socket + "\n";
    out += "spool directory: " + m.spool_directory.string() + " (bodies above " + std::to_string(m.body_memory_limit) +
           " bytes spill to disk)\n";
    out += "max message size: " + (m.max_message_size ? std::to_string(m.max_message_size) + " bytes" : std::string("unlimited")) + "\n";
    out += "concurrent encryptions: " + std::to_string(effective_encryption_limit(m.max_concurrent_encryptions)) + "\n";
    out += "gnupg home: " + config.gnupg.home.string() + " (trust model " +
           (config.gnupg.trust_model == TrustModel::ServerKeyring ? "server-keyring" : "gnupg") + ")\n";
    out += "usable keys: " + (usable_keys ? std::to_string(*usable_keys) : std::string("unknown")) + "\n";
    out += "default mode for listed domains: " + std::string(to_string(config.policy.defaults.mode)) + "\n";
    out += "local domains: " + std::to_string(config.policy.domains.size()) + "\n";
    for (const auto& [domain, policy] : config.policy.domains)
        out += "  " + domain + ": " + std::string(to_string(policy.mode)) + "\n";
    return out;
}

std::vector<std::string> gnupg_home_advice(const std::filesystem::path& home) {
    std::ifstream conf(home / "gpg.conf");
    std::string line;
    while (conf && std::getline(conf, line)) {
        const auto start = line.find_first_not_of(" \t");
        if (start == std::string::npos || line[start] == '#') continue;
        const auto end = line.find_last_not_of(" \t\r");
        if (line.substr(start, end - start + 1) == "no-random-seed-file") return {};
    }
    return {(home / "gpg.conf").string() + " lacks the line no-random-seed-file: concurrent encryptions then wait "
            "for each other on the home's random_seed lock"};
}

}  // namespace mdcrypt::milter
