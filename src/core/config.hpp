// The configuration as an immutable value, built and validated from TOML in one place.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/policy.hpp"

namespace mdcrypt {

// A configuration file is unusable. what() reads "FILE:LINE:COLUMN: key 'a.b': what is wrong".
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class TrustModel {
    ServerKeyring,  // every key the administrator imported is trusted ("always" in gpg terms)
    GnupgTrustDb,   // gpg's own trust database decides (keys must be signed or ownertrusted)
};

// Owner and group may connect, nobody else: the umask never decides who may talk to the milter.
inline constexpr std::uint32_t kDefaultSocketMode = 0660;

struct MilterSettings {
    std::string socket = "unix:/run/mdcrypt-milter/mdcrypt-milter.sock";
    std::optional<std::uint32_t> socket_mode;  // a unix socket's mode; unset: kDefaultSocketMode
    std::string socket_group;                  // group that owns a unix socket; empty = unchanged
    std::string user;                          // drop privileges to this user after binding; empty = stay
    std::string group;
    unsigned max_connections = 512;            // MTA connections served at once (one thread each)
    unsigned max_concurrent_encryptions = 0;   // 0 = twice the number of cores
    std::uint64_t max_message_size = 0;        // bytes; 0 = unlimited
    std::size_t body_memory_limit = 1 << 20;   // bytes of a body kept in memory before spooling to disk
    std::filesystem::path spool_directory = "/var/spool/mdcrypt-milter";
    unsigned timeout_seconds = 600;            // libmilter connection timeout
    unsigned stop_timeout_seconds = 30;        // a stop waits this long for messages in progress
    bool log_verbose = false;
    // The MTA's {rcpt_mailer} values (Postfix transports, Sendmail mailers) that make a recipient local
    // even when its domain is not in the policy file; it then gets the [default] policy. Empty = off.
    std::vector<std::string> local_mailers;
};

// Where recipients' public keys come from.
enum class KeySource {
    Keyring,  // the GnuPG home ([gnupg] home)
    File,     // a per-user key file, by [keys] file_template
    Wkd,      // a local Web Key Directory tree under [keys] wkd_root
    Ldap,     // a directory service, by the [ldap] table
};

std::string_view to_string(KeySource source);

enum class LdapTls {
    StartTls,  // ldap:// URIs, StartTLS before the bind; no TLS, no lookup
    Ldaps,     // ldaps:// URIs
    None,      // ldap:// or ldapi:// without TLS (a local socket, loopback tests)
};

std::string_view to_string(LdapTls tls);

// The [ldap] table: where the ldap key source searches. Certificates are always checked when TLS is on.
struct LdapSettings {
    std::vector<std::string> uris;  // tried in order on each new connection (failover)
    LdapTls tls = LdapTls::StartTls;
    std::filesystem::path ca_file;  // empty = the system's CAs (libldap's default)
    std::string bind_dn;            // empty = anonymous
    std::filesystem::path bind_password_file;  // required with bind_dn; no group write, nothing for others
    std::string base;               // search base DN (subtree search)
    std::string filter = "(mail=%s)";
    std::string attribute = "openPGPPublicKey";  // binary or ASCII-armored key data
    unsigned timeout_seconds = 10;  // connect, StartTLS, bind and search each
    unsigned size_limit = 2;        // entries a search may return; more is an error
    std::size_t max_key_size = std::size_t{1} << 20;  // bytes of key data per address
    unsigned cache_seconds = 300;   // answers (keys and "no entry") reused this long; 0 = no cache
    bool operator==(const LdapSettings&) const = default;
};

// The [keys] table.
struct KeySettings {
    std::vector<KeySource> sources{KeySource::Keyring};  // lookup order; the first usable key wins
    std::string file_template;  // e.g. "/var/vmail/%d/%l/.pgp/pubkey.asc"; required when sources has File
    std::filesystem::path wkd_root = "/var/lib/mdcrypt-milter/openpgpkey";
    std::string subaddress_delimiter = "+";  // each character starts a subaddress; empty = none
    LdapSettings ldap;  // the main file's [ldap] table
    bool operator==(const KeySettings&) const = default;
};

// Which OpenPGP implementation encrypts ([engine] backend). Key lookup is the same for both.
enum class EngineBackend {
    Gpgme,  // a gpg process per message, through GPGME
    Rnp,    // in-process with librnp, reading the same GnuPG home
};

std::string_view to_string(EngineBackend backend);

struct GnupgSettings {
    std::filesystem::path home = "/var/lib/mdcrypt-milter/gnupg";
    TrustModel trust_model = TrustModel::ServerKeyring;
    std::filesystem::path gpg_program;  // empty = GPGME's default gpg
    // Seconds one gpg run (an encryption, a key listing) may take before gpg is killed and the
    // message deferred. Below the MTA's own limit (Postfix milter_content_timeout: 300).
    unsigned timeout_seconds = 120;
    // The [keys] table of the main file. Kept here because the key lookup is built from it together
    // with the GnuPG home (the milter's CryptoFactory gets these settings, and rebuilds its services
    // when they change).
    KeySettings keys;
    // The [engine] table's backend, kept here for the same reason: the services are built from it.
    EngineBackend backend = EngineBackend::Gpgme;
};

// The [metrics] table: the monitoring endpoint, off unless listen is set.
struct MetricsSettings {
    std::string listen;  // "HOST:PORT" or "[V6]:PORT"; empty = no endpoint
    bool operator==(const MetricsSettings&) const = default;
};

// The [mailbox] table: how mdcrypt-mailbox reaches Dovecot and where it keeps its journal.
struct MailboxSettings {
    std::filesystem::path doveadm = "/usr/bin/doveadm";
    std::filesystem::path dovecot_config;  // empty = Dovecot's default; else doveadm -c
    std::filesystem::path state_directory = "/var/lib/mdcrypt-milter/mailbox";
    std::string address_domain;  // the domain of user names without '@'
};

struct Config {
    std::filesystem::path file;         // the main file it was loaded from
    MilterSettings milter;
    MetricsSettings metrics;
    MailboxSettings mailbox;
    GnupgSettings gnupg;
    std::filesystem::path policy_file;  // [policy] file
    Policy policy;
};

// Loads the main file and the policy file it names (relative paths are relative to the main file's
// directory). Throws ConfigError naming file, line and key for unknown keys, wrong types and bad values.
std::shared_ptr<const Config> load_config(const std::filesystem::path& main_file);

// Every key the main file accepts, as "section.key"; and every key of the policy file, its top-level
// keys and the keys of a [default], [domain."..."] or [recipient."..."] table. The man page
// mdcrypt-milter.toml(5) is checked against these.
std::vector<std::string> main_file_key_names();
std::vector<std::string> policy_file_key_names();

// Parses a policy file on its own (used by load_config, and by tests). `subaddress_delimiter` is the
// main file's [keys] subaddress_delimiter: recipient entries must be written without a subaddress.
Policy load_policy(const std::filesystem::path& policy_file, std::string_view subaddress_delimiter = "+");

}  // namespace mdcrypt
