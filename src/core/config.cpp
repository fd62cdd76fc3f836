#include "core/config.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <system_error>
#include <vector>

#include <toml++/toml.h>

#include "core/address.hpp"
#include "core/header.hpp"
#include "core/key_paths.hpp"
#include "core/ldap_filter.hpp"
#include "core/text.hpp"

namespace mdcrypt {
namespace {

namespace fs = std::filesystem;

// The file being read: the name used in messages, and the directory relative paths start from.
struct Source {
    std::string file;
    fs::path dir;
};

[[noreturn]] void throw_error(const Source& src, const toml::source_region& at, const std::string& key,
                              std::string_view what) {
    // Positions are 0 when toml++ has none (a missing table): line 1 still gets the admin to the file.
    const auto line = std::max<toml::source_index>(at.begin.line, 1);
    const auto column = at.begin.line == 0 ? 1 : std::max<toml::source_index>(at.begin.column, 1);
    throw ConfigError(src.file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": key '" + key +
                      "': " + std::string(what));
}

// Keys are shown as the admin would write them: bare when TOML allows, else quoted ("example.org").
std::string key_part(std::string_view name) {
    const bool bare = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    });
    return bare ? std::string(name) : "\"" + std::string(name) + "\"";
}

std::string_view type_name(toml::node_type type) {
    switch (type) {
        case toml::node_type::table: return "a table";
        case toml::node_type::array: return "an array";
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a floating-point number";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::date: return "a date";
        case toml::node_type::time: return "a time";
        case toml::node_type::date_time: return "a date-time";
        case toml::node_type::none: break;
    }
    return "nothing";
}

// "50M" -> 52428800; binary multiples, as admins size buffers in KiB/MiB.
std::optional<std::uint64_t> parse_size(std::string_view text) {
    unsigned shift = 0;
    if (!text.empty()) {
        switch (text.back()) {
            case 'K': case 'k': shift = 10; break;
            case 'M': case 'm': shift = 20; break;
            case 'G': case 'g': shift = 30; break;
            default: break;
        }
    }
    if (shift != 0) text.remove_suffix(1);
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    if (value > (std::numeric_limits<std::uint64_t>::max() >> shift)) return std::nullopt;
    return value << shift;
}

// Letters, digits and hyphens in non-empty dot-separated labels, optionally "*." in front.
bool valid_domain(std::string_view name) {
    if (name.starts_with("*.")) name.remove_prefix(2);
    if (name.empty() || name.size() > 253) return false;
    std::size_t label = 0;
    for (char c : name) {
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-') {
            if (++label > 63) return false;
        } else {
            return false;
        }
    }
    return label != 0;
}

// One value being read: the file it is in, its dotted key, its node. Typed getters fail with a message.
struct Field {
    const Source& src;
    std::string key;
    const toml::node& node;

    [[noreturn]] void fail(std::string_view what) const { throw_error(src, node.source(), key, what); }
    [[noreturn]] void fail_type(std::string_view wanted) const {
        fail("expected " + std::string(wanted) + ", got " + std::string(type_name(node.type())));
    }
    std::string child_key(std::string_view name) const { return (key.empty() ? "" : key + ".") + key_part(name); }
    Field child(std::string_view name, const toml::node& value) const { return {src, child_key(name), value}; }

    const toml::table& table() const {
        if (const auto* t = node.as_table()) return *t;
        fail_type("a table");
    }
    std::string string() const {
        if (const auto* s = node.as_string()) return s->get();
        fail_type("a string");
    }
    bool boolean() const {
        if (const auto* b = node.as_boolean()) return b->get();
        fail_type("a boolean");
    }
    template <class T>
    T number(std::int64_t min) const {
        const auto* i = node.as_integer();
        if (!i) fail_type("an integer");
        const std::int64_t v = i->get();
        if (v < min || static_cast<std::uint64_t>(v) > std::numeric_limits<T>::max())
            fail("must be between " + std::to_string(min) + " and " + std::to_string(std::numeric_limits<T>::max()));
        return static_cast<T>(v);
    }
    std::uint64_t size() const {
        if (node.is_integer()) return number<std::uint64_t>(0);
        if (!node.is_string()) fail_type("a size (an integer number of bytes or a string like \"50M\")");
        if (auto bytes = parse_size(string())) return *bytes;
        fail("bad size '" + string() + "': expected a number of bytes, optionally followed by K, M or G (like \"50M\")");
    }
    fs::path path() const {
        const fs::path p = string();
        if (p.empty()) fail("must not be empty");
        return p.is_absolute() ? p : (src.dir / p).lexically_normal();
    }
};

// A table kind is described by its allowed keys; each key knows how to read itself into the target.
template <class T>
struct Key {
    std::string_view name;
    void (*read)(const Field&, T&);
    bool required = false;
};

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            diagonal = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
        }
    }
    return row[b.size()];
}

template <class T, std::size_t N>
[[noreturn]] void fail_unknown(const Field& table, const toml::key& name, const Key<T> (&keys)[N]) {
    std::string_view nearest;
    std::size_t nearest_distance = 3;  // further than 2 edits is a different word, not a typo
    std::string all;
    for (const auto& k : keys) {
        all += (all.empty() ? "'" : ", '") + std::string(k.name) + "'";
        // A shortened key ("spool_dir") counts as one edit away from the full one.
        const bool shortened = k.name.starts_with(name.str());
        if (const auto d = shortened ? 1 : edit_distance(name.str(), k.name); d < nearest_distance) {
            nearest = k.name;
            nearest_distance = d;
        }
    }
    const std::string hint = nearest.empty() ? "valid keys here: " + all : "did you mean '" + table.child_key(nearest) + "'?";
    throw_error(table.src, name.source(), table.child_key(name.str()), "unknown key; " + hint);
}

// Rejects unknown keys first (a typo must not silently leave a default), then reads in the order of `keys`.
template <class T, std::size_t N>
void read_table(const Field& field, const Key<T> (&keys)[N], T& out) {
    const toml::table& table = field.table();
    for (const auto& [name, value] : table) {
        if (std::none_of(std::begin(keys), std::end(keys), [&](const Key<T>& k) { return k.name == name.str(); }))
            fail_unknown(field, name, keys);
    }
    for (const auto& k : keys) {
        if (const toml::node* value = table.get(k.name))
            k.read(field.child(k.name, *value), out);
        else if (k.required)
            throw_error(field.src, table.source(), field.child_key(k.name), "missing required key");
    }
}

// --- main file ---

const Key<MilterSettings> milter_keys[] = {
    {"socket", [](const Field& f, MilterSettings& m) {
        m.socket = f.string();
        for (std::string_view prefix : {"unix:", "local:", "inet:", "inet6:"})
            if (m.socket.starts_with(prefix) && m.socket.size() > prefix.size()) return;
        f.fail("'" + m.socket + "' must start with unix:, local:, inet: or inet6: "
               "(like \"unix:/run/mdcrypt-milter/mdcrypt-milter.sock\" or \"inet:10025@127.0.0.1\")");
    }},
    {"socket_mode", [](const Field& f, MilterSettings& m) {
        if (!f.node.is_string()) f.fail_type("a string of octal digits like \"0660\"");
        const std::string text = f.string();
        std::uint32_t mode = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
        if (text.size() < 3 || text.size() > 4 || ec != std::errc() || end != text.data() + text.size())
            f.fail("bad socket mode '" + text + "': expected 3 or 4 octal digits like \"0660\"");
        m.socket_mode = mode;
    }},
    {"socket_group", [](const Field& f, MilterSettings& m) { m.socket_group = f.string(); }},
    {"user", [](const Field& f, MilterSettings& m) { m.user = f.string(); }},
    {"group", [](const Field& f, MilterSettings& m) { m.group = f.string(); }},
    // 0 would refuse every connection.
    {"max_connections", [](const Field& f, MilterSettings& m) { m.max_connections = f.number<unsigned>(1); }},
    {"max_concurrent_encryptions",
     [](const Field& f, MilterSettings& m) { m.max_concurrent_encryptions = f.number<unsigned>(0); }},
    {"max_message_size", [](const Field& f, MilterSettings& m) { m.max_message_size = f.size(); }},
    {"body_memory_limit",
     [](const Field& f, MilterSettings& m) { m.body_memory_limit = static_cast<std::size_t>(f.size()); }},
    {"spool_directory", [](const Field& f, MilterSettings& m) { m.spool_directory = f.path(); }},
    // 0 would make libmilter give up on every MTA read immediately.
    {"timeout_seconds", [](const Field& f, MilterSettings& m) { m.timeout_seconds = f.number<unsigned>(1); }},
    {"stop_timeout_seconds", [](const Field& f, MilterSettings& m) { m.stop_timeout_seconds = f.number<unsigned>(0); }},
    {"log_verbose", [](const Field& f, MilterSettings& m) { m.log_verbose = f.boolean(); }},
    {"local_mailers", [](const Field& f, MilterSettings& m) {
        const toml::array* array = f.node.as_array();
        if (!array) f.fail_type("an array of MTA mailer (transport) names like [\"local\", \"virtual\", \"lmtp\"]");
        m.local_mailers.clear();
        for (std::size_t i = 0; i < array->size(); ++i) {
            const Field item{f.src, f.key + "[" + std::to_string(i) + "]", *array->get(i)};
            const std::string name = item.string();
            if (name.empty() || name.find_first_of(" \t\r\n") != std::string::npos)
                item.fail("'" + name + "' is not a mailer name (the MTA's {rcpt_mailer}, like \"virtual\")");
            m.local_mailers.push_back(name);
        }
    }},
};

const Key<GnupgSettings> gnupg_keys[] = {
    {"home", [](const Field& f, GnupgSettings& g) { g.home = f.path(); }},
    {"trust_model", [](const Field& f, GnupgSettings& g) {
        const std::string model = f.string();
        if (model == "server-keyring") g.trust_model = TrustModel::ServerKeyring;
        else if (model == "gnupg") g.trust_model = TrustModel::GnupgTrustDb;
        else f.fail("unknown trust model '" + model + "'; valid: server-keyring, gnupg");
    }},
    {"gpg_program", [](const Field& f, GnupgSettings& g) { g.gpg_program = f.path(); }},
    {"timeout_seconds", [](const Field& f, GnupgSettings& g) { g.timeout_seconds = f.number<unsigned>(1); }},
};

// [keys]. Read after [gnupg] (see main_file_keys), so the sources can be checked against its trust model.
bool lists(const KeySettings& keys, KeySource source) {
    return std::find(keys.sources.begin(), keys.sources.end(), source) != keys.sources.end();
}

const Key<GnupgSettings> key_source_keys[] = {
    {"sources", [](const Field& f, GnupgSettings& g) {
        const toml::array* array = f.node.as_array();
        if (!array) f.fail_type("an array of key source names like [\"keyring\", \"file\", \"wkd\", \"ldap\"]");
        if (array->empty()) f.fail("lists no key source; valid sources: keyring, file, wkd, ldap");
        g.keys.sources.clear();
        for (std::size_t i = 0; i < array->size(); ++i) {
            const Field item{f.src, f.key + "[" + std::to_string(i) + "]", *array->get(i)};
            const std::string name = item.string();
            std::optional<KeySource> source;
            for (KeySource k : {KeySource::Keyring, KeySource::File, KeySource::Wkd, KeySource::Ldap})
                if (name == to_string(k)) source = k;
            if (!source) item.fail("unknown key source '" + name + "'; valid sources: keyring, file, wkd, ldap");
            if (lists(g.keys, *source)) item.fail("'" + name + "' is listed twice");
            g.keys.sources.push_back(*source);
        }
        if (g.trust_model == TrustModel::GnupgTrustDb &&
            (lists(g.keys, KeySource::File) || lists(g.keys, KeySource::Wkd) || lists(g.keys, KeySource::Ldap)))
            f.fail("keys from files and directories have no validity in gpg's trust database: the file, wkd and "
                   "ldap sources need gnupg.trust_model = \"server-keyring\"");
        if (lists(g.keys, KeySource::Ldap) && g.keys.ldap.uris.empty())
            f.fail("lists \"ldap\", so the [ldap] table must set uris and base (like uris = [\"ldap://ldap1.example.org\"])");
    }},
    {"file_template", [](const Field& f, GnupgSettings& g) {
        g.keys.file_template = f.string();
        if (const auto bad = check_key_path_template(g.keys.file_template))
            f.fail("bad key file template '" + g.keys.file_template + "': " + *bad +
                   " (like \"/var/vmail/%d/%l/.pgp/pubkey.asc\": %d domain, %l local part, %u address, %% a percent sign)");
    }},
    {"wkd_root", [](const Field& f, GnupgSettings& g) { g.keys.wkd_root = f.path(); }},
    {"subaddress_delimiter", [](const Field& f, GnupgSettings& g) {
        const std::string text = f.string();
        for (char c : text) {
            const auto u = static_cast<unsigned char>(c);
            const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            if (u <= 0x20 || u >= 0x7f || alnum || c == '@' || c == '"' || c == '\\')
                f.fail("'" + text + "': a subaddress delimiter is one or more punctuation characters like \"+\" "
                       "(each one starts a subaddress, as in Postfix's recipient_delimiter), or \"\" for none");
        }
        g.keys.subaddress_delimiter = text;
    }},
};

// A bind password file must not be readable by others or writable by the group: the password in it
// grants whatever the bind DN may read.
void check_password_file(const Field& f, const fs::path& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0)
        f.fail("cannot use password file " + path.string() + ": " + std::generic_category().message(errno));
    if (!S_ISREG(st.st_mode)) f.fail("password file " + path.string() + " is not a regular file");
    if ((st.st_mode & 027) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        f.fail("password file " + path.string() + " has mode " + mode +
               ": it must not be writable by its group nor accessible to others (chmod 0600 or 0640)");
    }
}

const Key<LdapSettings> ldap_keys[] = {
    {"uris", [](const Field& f, LdapSettings& l) {
        const toml::array* array = f.node.as_array();
        if (!array) f.fail_type("an array of LDAP URIs like [\"ldap://ldap1.example.org\", \"ldap://ldap2.example.org\"]");
        if (array->empty()) f.fail("lists no server");
        for (std::size_t i = 0; i < array->size(); ++i) {
            const Field item{f.src, f.key + "[" + std::to_string(i) + "]", *array->get(i)};
            const std::string uri = item.string();
            const bool scheme = uri.starts_with("ldap://") || uri.starts_with("ldaps://") || uri.starts_with("ldapi://");
            if (!scheme || uri.find_first_of(" \t\r\n,") != std::string::npos)
                item.fail("'" + uri + "' is not one LDAP URI (ldap://HOST[:PORT], ldaps://HOST[:PORT] or ldapi://SOCKET)");
            const std::string_view rest = std::string_view(uri).substr(uri.find("://") + 3);
            if (rest.find('/') != std::string_view::npos && rest.find('/') + 1 < rest.size())
                item.fail("'" + uri + "': give the search base in base, not in the URI");
            l.uris.push_back(uri);
        }
    }, true},
    {"tls", [](const Field& f, LdapSettings& l) {
        const std::string text = f.string();
        if (text == "starttls") l.tls = LdapTls::StartTls;
        else if (text == "ldaps") l.tls = LdapTls::Ldaps;
        else if (text == "none") l.tls = LdapTls::None;
        else f.fail("unknown TLS mode '" + text + "'; valid: starttls (ldap:// URIs), ldaps (ldaps:// URIs), none");
        for (const std::string& uri : l.uris) {
            const bool ok = l.tls == LdapTls::Ldaps ? uri.starts_with("ldaps://")
                          : l.tls == LdapTls::StartTls ? uri.starts_with("ldap://")
                                                       : !uri.starts_with("ldaps://");
            if (!ok) f.fail("tls = \"" + text + "\" does not go with '" + uri + "' in uris (starttls: ldap://, ldaps: ldaps://, none: ldap:// or ldapi://)");
        }
    }},
    {"ca_file", [](const Field& f, LdapSettings& l) { l.ca_file = f.path(); }},
    {"bind_dn", [](const Field& f, LdapSettings& l) { l.bind_dn = f.string(); }},
    {"bind_password_file", [](const Field& f, LdapSettings& l) {
        l.bind_password_file = f.path();
        check_password_file(f, l.bind_password_file);
    }},
    {"base", [](const Field& f, LdapSettings& l) {
        l.base = f.string();
        if (l.base.find('=') == std::string::npos) f.fail("'" + l.base + "' is not a DN (like \"ou=people,dc=example,dc=org\")");
    }, true},
    {"filter", [](const Field& f, LdapSettings& l) {
        l.filter = f.string();
        if (const auto bad = check_ldap_filter_template(l.filter)) f.fail("bad filter '" + l.filter + "': " + *bad);
    }},
    {"attribute", [](const Field& f, LdapSettings& l) {
        l.attribute = f.string();
        const bool valid = !l.attribute.empty() && std::all_of(l.attribute.begin(), l.attribute.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == ';';
        });
        if (!valid) f.fail("'" + l.attribute + "' is not an attribute name (like \"openPGPPublicKey\" or \"pgpKey\")");
    }},
    {"timeout_seconds", [](const Field& f, LdapSettings& l) { l.timeout_seconds = f.number<unsigned>(1); }},
    {"size_limit", [](const Field& f, LdapSettings& l) { l.size_limit = f.number<unsigned>(1); }},
    {"max_key_size", [](const Field& f, LdapSettings& l) {
        l.max_key_size = f.size();
        if (l.max_key_size == 0) f.fail("must not be 0");
    }},
    {"cache_seconds", [](const Field& f, LdapSettings& l) { l.cache_seconds = f.number<unsigned>(0); }},
};

void read_ldap(const Field& f, Config& c) {
    LdapSettings& l = c.gnupg.keys.ldap;
    read_table(f, ldap_keys, l);
    if (!f.node.as_table()->get("tls")) {  // the default must fit the URIs too
        for (const std::string& uri : l.uris)
            if (!uri.starts_with("ldap://"))
                throw_error(f.src, f.node.source(), f.child_key("tls"),
                            "missing: the default \"starttls\" needs ldap:// URIs, and uris has '" + uri +
                                "' (set tls = \"ldaps\" or \"none\")");
    }
    if (!l.bind_dn.empty() && l.bind_password_file.empty())
        throw_error(f.src, f.node.source(), f.child_key("bind_password_file"),
                    "missing: bind_dn is set, so the file holding its password must be named (never the password itself)");
    if (l.bind_dn.empty() && !l.bind_password_file.empty())
        throw_error(f.src, f.node.source(), f.child_key("bind_dn"), "missing: bind_password_file is set but no bind_dn to use it with");
}

void read_key_sources(const Field& f, Config& c) {
    read_table(f, key_source_keys, c.gnupg);
    if (lists(c.gnupg.keys, KeySource::File) && c.gnupg.keys.file_template.empty())
        throw_error(f.src, f.node.source(), f.child_key("file_template"),
                    "missing: sources lists \"file\", so the key file path template must be set "
                    "(like \"/var/vmail/%d/%l/.pgp/pubkey.asc\")");
}

const Key<GnupgSettings> engine_keys[] = {
    {"backend", [](const Field& f, GnupgSettings& g) {
        const std::string name = f.string();
        std::optional<EngineBackend> backend;
        for (EngineBackend b : {EngineBackend::Gpgme, EngineBackend::Rnp})
            if (name == to_string(b)) backend = b;
        if (!backend) f.fail("unknown engine backend '" + name + "'; valid: gpgme, rnp");
        g.backend = *backend;
    }},
};

const Key<Config> policy_keys[] = {
    {"file", [](const Field& f, Config& c) { c.policy_file = f.path(); }, true},
};

// A numeric port after the last ':', a host before it; a v6 address in brackets. Names are resolved by
// the server at start, so they are not checked here.
bool is_host_port(std::string_view s) {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) return false;
    const std::string_view host = s.substr(0, colon), port = s.substr(colon + 1);
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string_view::npos) return false;
    const unsigned long number = std::stoul(std::string(port));
    if (number == 0 || number > 65535) return false;
    if (host.front() == '[') return host.back() == ']' && host.size() > 2;
    return host.find_first_of(":[] /") == std::string_view::npos;
}

const Key<MetricsSettings> metrics_keys[] = {
    {"listen", [](const Field& f, MetricsSettings& m) {
        m.listen = f.string();
        if (!is_host_port(m.listen))
            f.fail("'" + m.listen + "' is not HOST:PORT (like \"127.0.0.1:9465\" or \"[::1]:9465\")");
    }},
};

const Key<MailboxSettings> mailbox_keys[] = {
    {"doveadm", [](const Field& f, MailboxSettings& m) { m.doveadm = f.path(); }},
    {"dovecot_config", [](const Field& f, MailboxSettings& m) { m.dovecot_config = f.path(); }},
    {"state_directory", [](const Field& f, MailboxSettings& m) { m.state_directory = f.path(); }},
    {"address_domain", [](const Field& f, MailboxSettings& m) {
        m.address_domain = f.string();
        if (m.address_domain.find_first_of("@ \t<>") != std::string::npos)
            f.fail("'" + m.address_domain + "' is not a domain (like \"example.org\")");
    }},
};

const Key<Config> main_file_keys[] = {
    {"milter", [](const Field& f, Config& c) { read_table(f, milter_keys, c.milter); }},
    {"gnupg", [](const Field& f, Config& c) { read_table(f, gnupg_keys, c.gnupg); }},
    {"policy", [](const Field& f, Config& c) { read_table(f, policy_keys, c); }},
    {"ldap", read_ldap},         // before "keys": sources = ["ldap"] needs it
    {"keys", read_key_sources},  // after "gnupg": its trust model limits the sources
    {"metrics", [](const Field& f, Config& c) { read_table(f, metrics_keys, c.metrics); }},
    {"engine", [](const Field& f, Config& c) { read_table(f, engine_keys, c.gnupg); }},
    {"mailbox", [](const Field& f, Config& c) { read_table(f, mailbox_keys, c.mailbox); }},
};

// --- policy file ---

// [default] takes the same keys as [domain."X"]: every per-domain setting can have a default.
const Key<DomainPolicy> domain_keys[] = {
    {"mode", [](const Field& f, DomainPolicy& d) {
        const std::string text = f.string();
        if (auto mode = parse_mode(text)) d.mode = *mode;
        else f.fail("unknown mode '" + text + "'; valid modes: off, opportunistic, required");
        d.mode_from = "[" + f.key.substr(0, f.key.size() - std::string_view(".mode").size()) + "]";
    }},
    {"header_protection", [](const Field& f, DomainPolicy& d) { d.header_protection = f.boolean(); }},
    {"split", [](const Field& f, DomainPolicy& d) {
        const std::string text = f.string();
        if (auto split = parse_split(text)) d.split = *split;
        else f.fail("unknown split '" + text + "'; valid: per-class, per-recipient");
    }},
    {"refusal", [](const Field& f, DomainPolicy& d) {
        const std::string text = f.string();
        if (auto refusal = parse_refusal(text)) d.refusal = *refusal;
        else f.fail("unknown refusal '" + text + "'; valid: permanent (550 5.7.1), temporary (450 4.7.1)");
    }},
};

void read_domains(const Field& field, Policy& policy) {
    std::map<std::string, const toml::key*> seen;  // lower-cased name -> how it was written
    for (const auto& [name, value] : field.table()) {
        if (!valid_domain(name.str()))
            throw_error(field.src, name.source(), field.child_key(name.str()),
                        "bad domain name: expected letters, digits, hyphens and dots, optionally starting with \"*.\"");
        DomainPolicy domain = policy.defaults;  // a key the domain leaves out comes from [default]
        read_table(field.child(name.str(), value), domain_keys, domain);
        const std::string lower = to_lower_ascii(name.str());
        if (const auto [it, added] = seen.emplace(lower, &name); !added) {
            // toml++ iterates in key order, not file order: report whichever spelling comes later.
            const bool later = it->second->source().begin.line < name.source().begin.line;
            const toml::key& dup = later ? name : *it->second;
            const toml::key& first = later ? *it->second : name;
            throw_error(field.src, dup.source(), field.child_key(dup.str()),
                        "duplicate domain: same as '" + std::string(first.str()) + "' on line " +
                            std::to_string(first.source().begin.line) + " (domain names are case-insensitive)");
        }
        policy.domains.emplace(lower, domain);
    }
}

// [recipient."boss@example.org"]: read after [domain] and [default], which it inherits from.
void read_recipients(const Field& field, Policy& policy) {
    std::map<std::string, const toml::key*> seen;  // lower-cased address -> how it was written
    for (const auto& [name, value] : field.table()) {
        const std::string written(name.str());
        auto fail = [&](std::string_view what) { throw_error(field.src, name.source(), field.child_key(written), what); };
        const auto address = parse_address(written);
        if (!address || written.find_first_of("<> \t") != std::string::npos || address->local.find('@') != std::string::npos)
            fail("bad recipient address: expected local-part@domain, like \"boss@example.org\"");
        if (address->domain.starts_with("*.") || !valid_domain(address->domain))
            fail("bad domain in recipient address: expected letters, digits, hyphens and dots (no wildcard)");
        if (strip_subaddress(address->local, policy.subaddress_delimiter) != address->local)
            fail("recipient entries are matched without the subaddress (keys.subaddress_delimiter is \"" +
                 policy.subaddress_delimiter + "\"): write the address without it");
        const std::string lower = to_lower_ascii(address->local) + "@" + address->domain;
        if (const auto [it, added] = seen.emplace(lower, &name); !added) {
            const bool later = it->second->source().begin.line < name.source().begin.line;
            const toml::key& dup = later ? name : *it->second;
            const toml::key& first = later ? *it->second : name;
            throw_error(field.src, dup.source(), field.child_key(dup.str()),
                        "duplicate recipient: same as '" + std::string(first.str()) + "' on line " +
                            std::to_string(first.source().begin.line) + " (addresses are case-insensitive)");
        }
        // What the entry leaves out comes from its domain's entry when the domain is listed.
        DomainPolicy recipient = policy.for_domain(address->domain).value_or(policy.defaults);
        read_table(field.child(written, value), domain_keys, recipient);
        policy.recipients.emplace(lower, recipient);
    }
}

// A header field name (RFC 5322 section 2.2: printable ASCII but ':') that the PGP/MIME rewrite does
// not own: Content-* and MIME-Version make up the multipart/encrypted structure.
void read_strip_fields(const Field& field, Policy& policy) {
    const toml::array* array = field.node.as_array();
    if (!array) field.fail_type("an array of header field names");
    for (std::size_t i = 0; i < array->size(); ++i) {
        const Field item{field.src, field.key + "[" + std::to_string(i) + "]", *array->get(i)};
        const std::string name = item.string();
        const bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            const auto u = static_cast<unsigned char>(c);
            return u >= 33 && u <= 126 && c != ':';
        });
        if (!valid) item.fail("'" + name + "' is not a header field name (printable ASCII without ':' or spaces)");
        if (is_content_field(name) || iequals(name, "MIME-Version"))
            item.fail("'" + name + "' belongs to the PGP/MIME structure of the encrypted message and cannot be removed");
        const auto& seen = policy.strip_fields_when_encrypted;
        if (std::any_of(seen.begin(), seen.end(), [&](const std::string& s) { return iequals(s, name); }))
            item.fail("'" + name + "' is listed twice (field names are case-insensitive)");
        policy.strip_fields_when_encrypted.push_back(name);
    }
}

// "default" comes before "domain" so that domains inherit it.
const Key<Policy> policy_file_keys[] = {
    {"strip_fields_when_encrypted", read_strip_fields},
    {"default", [](const Field& f, Policy& p) { read_table(f, domain_keys, p.defaults); }},
    {"domain", read_domains},
    {"recipient", read_recipients},  // after "domain": an entry inherits its domain's settings
};

toml::table parse_toml(const fs::path& path) {
    const std::string name = path.string();
    std::error_code ec;
    if (fs::is_directory(path, ec)) throw ConfigError("cannot read " + name + ": is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError("cannot read " + name + ": " + std::generic_category().message(errno));
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw ConfigError("cannot read " + name + ": read error");
    try {
        return toml::parse(text.str(), name);
    } catch (const toml::parse_error& e) {
        throw ConfigError(name + ":" + std::to_string(e.source().begin.line) + ":" +
                          std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
    }
}

}  // namespace

std::string_view to_string(KeySource source) {
    switch (source) {
        case KeySource::Keyring: return "keyring";
        case KeySource::File: return "file";
        case KeySource::Wkd: return "wkd";
        case KeySource::Ldap: return "ldap";
    }
    return "?";
}

std::string_view to_string(LdapTls tls) {
    switch (tls) {
        case LdapTls::StartTls: return "starttls";
        case LdapTls::Ldaps: return "ldaps";
        case LdapTls::None: return "none";
    }
    return "?";
}

std::string_view to_string(EngineBackend backend) {
    switch (backend) {
        case EngineBackend::Gpgme: return "gpgme";
        case EngineBackend::Rnp: return "rnp";
    }
    return "?";
}

std::shared_ptr<const Config> load_config(const std::filesystem::path& main_file) {
    const Source src{main_file.string(), fs::absolute(main_file).parent_path()};
    const toml::table root = parse_toml(main_file);
    Config config;
    config.file = fs::absolute(main_file).lexically_normal();
    read_table(Field{src, "", root}, main_file_keys, config);
    if (config.policy_file.empty())  // no [policy] table at all
        throw_error(src, {}, "policy.file", "missing required key: it names the policy file listing the local domains");
    config.policy = load_policy(config.policy_file, config.gnupg.keys.subaddress_delimiter);
    return std::make_shared<const Config>(std::move(config));
}

Policy load_policy(const std::filesystem::path& policy_file, std::string_view subaddress_delimiter) {
    const Source src{policy_file.string(), fs::absolute(policy_file).parent_path()};
    const toml::table root = parse_toml(policy_file);
    Policy policy;
    policy.subaddress_delimiter = std::string(subaddress_delimiter);
    read_table(Field{src, "", root}, policy_file_keys, policy);
    return policy;
}

namespace {

template <class T, std::size_t N>
void add_names(std::vector<std::string>& out, std::string_view prefix, const Key<T> (&keys)[N]) {
    for (const auto& k : keys) out.push_back(std::string(prefix) + std::string(k.name));
}

}  // namespace

std::vector<std::string> main_file_key_names() {
    std::vector<std::string> names;
    for (const auto& section : main_file_keys) {
        const std::string_view name = section.name;
        if (name == "milter") add_names(names, "milter.", milter_keys);
        else if (name == "gnupg") add_names(names, "gnupg.", gnupg_keys);
        else if (name == "keys") add_names(names, "keys.", key_source_keys);
        else if (name == "ldap") add_names(names, "ldap.", ldap_keys);
        else if (name == "policy") add_names(names, "policy.", policy_keys);
        else if (name == "metrics") add_names(names, "metrics.", metrics_keys);
        else if (name == "engine") add_names(names, "engine.", engine_keys);
        else if (name == "mailbox") add_names(names, "mailbox.", mailbox_keys);
        else throw std::logic_error("main_file_key_names does not know section [" + std::string(name) + "]");
    }
    return names;
}

std::vector<std::string> policy_file_key_names() {
    std::vector<std::string> names;
    for (const auto& k : policy_file_keys) {
        const std::string_view name = k.name;
        if (name == "default" || name == "domain" || name == "recipient") continue;  // tables of domain_keys
        names.emplace_back(name);
    }
    add_names(names, "", domain_keys);
    return names;
}

}  // namespace mdcrypt
