#include "milter/check_config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include <fstream>

#include "core/expected_keys.hpp"
#include "milter/limiter.hpp"

namespace mdcrypt::milter {

namespace {

// "required, split per-class, refusal permanent (550 5.7.1)"
std::string describe_policy(const DomainPolicy& policy) {
    return std::string(to_string(policy.mode)) + ", split " + std::string(to_string(policy.split)) + ", refusal " +
           std::string(to_string(policy.refusal)) + (policy.refusal == Refusal::Permanent ? " (550 5.7.1)" : " (450 4.7.1)");
}

// Servers, TLS, who binds and what is searched; never the password.
std::string describe_ldap(const LdapSettings& ldap) {
    std::string uris;
    for (const std::string& uri : ldap.uris) uris += (uris.empty() ? "" : " ") + uri;
    return uris + " (tls " + std::string(to_string(ldap.tls)) + ", bind " + (ldap.bind_dn.empty() ? "anonymous" : ldap.bind_dn) +
           ", base " + ldap.base + ", filter " + ldap.filter + ", attribute " + ldap.attribute + ", cache " +
           std::to_string(ldap.cache_seconds) + " s)";
}

// One line per [keys] source, in the order they are asked.
std::string describe_key_sources(const GnupgSettings& gnupg) {
    std::string out = "key sources, first usable key wins:\n";
    std::size_t n = 0;
    for (const KeySource source : gnupg.keys.sources) {
        out += "  " + std::to_string(++n) + ". " + std::string(to_string(source)) + " ";
        switch (source) {
            case KeySource::Keyring: out += gnupg.home.string(); break;
            case KeySource::File: out += gnupg.keys.file_template; break;
            case KeySource::Wkd: out += (gnupg.keys.wkd_root / "<domain>/hu/<hash>").string(); break;
            case KeySource::Ldap: out += describe_ldap(gnupg.keys.ldap); break;
        }
        out += "\n";
    }
    return out;
}

}  // namespace

std::string describe_config(const Config& config, std::optional<std::size_t> usable_keys) {
    const auto& m = config.milter;
    std::string out;
    out += "configuration: " + config.file.string() + "\n";
    out += "policy: " + config.policy_file.string() + "\n";
    out += "socket: " + m.socket;
    if (m.socket.starts_with("unix:") || m.socket.starts_with("local:")) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(m.socket_mode.value_or(kDefaultSocketMode)));
        out += std::string(" (mode ") + mode + (m.socket_mode ? "" : ", the default") + ")";
    }
    out += "\n";
    out += "spool directory: " + m.spool_directory.string() + " (bodies above " + std::to_string(m.body_memory_limit) +
           " bytes spill to disk)\n";
    out += "max message size: " + (m.max_message_size ? std::to_string(m.max_message_size) + " bytes" : std::string("unlimited")) + "\n";
    out += "max connections: " + std::to_string(m.max_connections) + "\n";
    out += "concurrent encryptions: " + std::to_string(effective_encryption_limit(m.max_concurrent_encryptions)) + "\n";
    out += "gnupg home: " + config.gnupg.home.string() + " (trust model " +
           (config.gnupg.trust_model == TrustModel::ServerKeyring ? "server-keyring" : "gnupg") + ")\n";
    out += "encryption engine: " + std::string(to_string(config.gnupg.backend)) + "\n";
    out += "gpg timeout: " + std::to_string(config.gnupg.timeout_seconds) + " s per run; a stop waits " +
           std::to_string(m.stop_timeout_seconds) + " s for messages in progress\n";
    out += "usable keys: " + (usable_keys ? std::to_string(*usable_keys) : std::string("unknown")) + "\n";
    out += describe_key_sources(config.gnupg);
    if (!m.local_mailers.empty()) {
        out += "local mailers:";
        for (std::size_t i = 0; i < m.local_mailers.size(); ++i) out += (i ? ", " : " ") + m.local_mailers[i];
        out += "\n";
    }
    out += "default mode for listed domains: " + describe_policy(config.policy.defaults) + "\n";
    out += "local domains: " + std::to_string(config.policy.domains.size()) + "\n";
    for (const auto& [domain, policy] : config.policy.domains) out += "  " + domain + ": " + describe_policy(policy) + "\n";
    out += "recipient entries: " + std::to_string(config.policy.recipients.size()) + "\n";
    for (const auto& [address, policy] : config.policy.recipients) out += "  " + address + ": " + describe_policy(policy) + "\n";
    return out;
}

std::vector<std::string> gnupg_home_advice(const std::filesystem::path& home) {
    std::vector<std::string> advice;
    bool seed_file_off = false;
    std::ifstream conf(home / "gpg.conf");
    std::string line;
    while (conf && std::getline(conf, line)) {
        const auto start = line.find_first_not_of(" \t");
        if (start == std::string::npos || line[start] == '#') continue;
        const auto end = line.find_last_not_of(" \t\r");
        if (line.substr(start, end - start + 1) == "no-random-seed-file") seed_file_off = true;
    }
    if (!seed_file_off)
        advice.push_back((home / "gpg.conf").string() + " lacks the line no-random-seed-file: concurrent encryptions then wait "
                         "for each other on the home's random_seed lock");
    if (!std::filesystem::exists(home / kExpectedKeysFile))
        advice.push_back("no " + (home / kExpectedKeysFile).string() +
                         ": a keyring that loses keys before the milter starts cannot be told from one that never had "
                         "them; run mdcrypt-keys record");
    return advice;
}

std::vector<std::string> gnupg_home_access_problems(const std::filesystem::path& home, const std::string& owner) {
    std::vector<std::string> problems;
    const std::string fix = "; run as root: chown -R " + owner + " " + home.string();
    auto describe = [](const std::filesystem::path& path) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) return std::string();
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        return " (owner uid " + std::to_string(st.st_uid) + ", gid " + std::to_string(st.st_gid) + ", mode " + mode + ")";
    };
    if (::access(home.c_str(), R_OK | W_OK | X_OK) != 0) {
        problems.push_back(home.string() + ": the GnuPG home is not readable and writable by the daemon's user" +
                           describe(home) + fix);
        return problems;
    }
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(home, ec)) {
        if (!entry.is_regular_file(ec)) continue;
        if (::access(entry.path().c_str(), R_OK) != 0)
            problems.push_back(entry.path().string() + ": not readable by the daemon's user" + describe(entry.path()) + fix);
    }
    return problems;
}

std::optional<std::string> root_warning(const Config& config, unsigned euid) {
    if (euid != 0 || !config.milter.user.empty()) return std::nullopt;
    return "running as root: " + config.file.string() +
           " sets no [milter] user, so every message is parsed with root's privileges; set user (and group) "
           "to an account that owns the GnuPG home and the spool directory";
}

}  // namespace mdcrypt::milter
