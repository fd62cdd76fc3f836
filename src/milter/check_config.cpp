#include "milter/check_config.hpp"

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

}  // namespace mdcrypt::milter
