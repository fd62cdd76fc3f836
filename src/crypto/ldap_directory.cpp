#include "crypto/ldap_directory.hpp"

#include <fcntl.h>
#include <lber.h>
#include <ldap.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/file_descriptor.hpp"
#include "core/ldap_filter.hpp"
#include "core/openpgp_keys.hpp"

namespace mdcrypt {

namespace {

// Owners of libldap's handles.
struct LdapDeleter {
    void operator()(LDAP* ld) const noexcept { ldap_unbind_ext_s(ld, nullptr, nullptr); }
};
using LdapHandle = std::unique_ptr<LDAP, LdapDeleter>;

struct MessageDeleter {
    void operator()(LDAPMessage* m) const noexcept { ldap_msgfree(m); }
};
using LdapResult = std::unique_ptr<LDAPMessage, MessageDeleter>;

struct ValuesDeleter {
    void operator()(berval** v) const noexcept { ldap_value_free_len(v); }
};
using LdapValues = std::unique_ptr<berval*, ValuesDeleter>;

std::string error_text(int rc) { return std::string(ldap_err2string(rc)) + " (" + std::to_string(rc) + ")"; }

// The server's own words (LDAP_OPT_DIAGNOSTIC_MESSAGE) after a failed operation, if any.
std::string diagnostic(LDAP* ld) {
    char* text = nullptr;
    if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &text) != LDAP_OPT_SUCCESS || !text) return {};
    std::string out = *text ? std::string(": ") + text : std::string();
    ldap_memfree(text);
    return out;
}

// Codes after which the connection is of no further use.
bool breaks_connection(int rc) {
    return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR || rc == LDAP_LOCAL_ERROR ||
           rc == LDAP_ENCODING_ERROR || rc == LDAP_DECODING_ERROR || rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY;
}

// At most 4 KiB, the first line, for the bind.
bool read_password(const std::filesystem::path& path, std::string& password, std::string& error) {
    const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) {
        error = "cannot read password file " + path.string() + ": " + std::strerror(errno);
        return false;
    }
    password.assign(4096, '\0');
    std::size_t filled = 0;
    while (filled < password.size()) {
        const ssize_t n = ::read(fd.get(), password.data() + filled, password.size() - filled);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = "cannot read password file " + path.string() + ": " + std::strerror(errno);
            return false;
        }
        if (n == 0) break;
        filled += static_cast<std::size_t>(n);
    }
    password.resize(filled);
    if (const auto eol = password.find_first_of("\r\n"); eol != std::string::npos) password.resize(eol);
    return true;
}

}  // namespace

struct LdapDirectory::Connection {
    LdapHandle ld;
    std::string uri;
};

LdapDirectory::LdapDirectory(LdapSettings settings) : settings_(std::move(settings)) {
    // libldap sets up its global options on first use: once, here, rather than racing in the first
    // lookups of several milter threads (a reload builds a new directory while lookups run).
    static std::once_flag global_init;
    std::call_once(global_init, [] {
        int version = LDAP_VERSION3;
        (void)ldap_set_option(nullptr, LDAP_OPT_PROTOCOL_VERSION, &version);
    });
}

LdapDirectory::~LdapDirectory() = default;

std::size_t LdapDirectory::connections_opened() const {
    std::lock_guard lock(mutex_);
    return opened_;
}

std::unique_ptr<LdapDirectory::Connection> LdapDirectory::connect(std::string& failures) {
    std::string password;
    if (!settings_.bind_dn.empty()) {
        std::string error;
        if (!read_password(settings_.bind_password_file, password, error)) {
            failures = error;
            return nullptr;
        }
    }
    timeval timeout{static_cast<time_t>(settings_.timeout_seconds), 0};
    for (const std::string& uri : settings_.uris) {
        const auto fail = [&](const std::string& what) { failures += (failures.empty() ? "" : "; ") + uri + ": " + what; };
        LDAP* raw = nullptr;
        if (const int rc = ldap_initialize(&raw, uri.c_str()); rc != LDAP_SUCCESS) {
            fail("bad URI: " + error_text(rc));
            continue;
        }
        auto connection = std::make_unique<Connection>(Connection{LdapHandle(raw), uri});
        LDAP* ld = connection->ld.get();
        int version = LDAP_VERSION3;
        ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
        ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &timeout);
        ldap_set_option(ld, LDAP_OPT_TIMEOUT, &timeout);
        if (settings_.tls != LdapTls::None) {
            int demand = LDAP_OPT_X_TLS_DEMAND;
            ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
            if (!settings_.ca_file.empty()) ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, settings_.ca_file.c_str());
            int is_server = 0;
            if (const int rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server); rc != LDAP_OPT_SUCCESS) {
                fail("cannot set up TLS: " + error_text(rc));
                continue;
            }
        }
        if (settings_.tls == LdapTls::StartTls) {
            if (const int rc = ldap_start_tls_s(ld, nullptr, nullptr); rc != LDAP_SUCCESS) {
                fail("StartTLS failed: " + error_text(rc) + diagnostic(ld));
                continue;
            }
        }
        berval credentials{static_cast<ber_len_t>(password.size()), password.data()};
        const char* dn = settings_.bind_dn.empty() ? nullptr : settings_.bind_dn.c_str();
        if (const int rc = ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &credentials, nullptr, nullptr, nullptr);
            rc != LDAP_SUCCESS) {
            fail((dn ? "bind as " + settings_.bind_dn : std::string("anonymous bind")) + " failed: " + error_text(rc) +
                 diagnostic(ld));
            continue;
        }
        std::lock_guard lock(mutex_);
        ++opened_;
        return connection;
    }
    return nullptr;
}

LdapAnswer LdapDirectory::search_on(Connection& connection, const std::string& filter, bool& connection_broken) const {
    LDAP* ld = connection.ld.get();
    const std::string where = connection.uri;
    std::string attribute = settings_.attribute;
    char* attributes[] = {attribute.data(), nullptr};
    timeval timeout{static_cast<time_t>(settings_.timeout_seconds), 0};
    LDAPMessage* raw = nullptr;
    const int rc = ldap_search_ext_s(ld, settings_.base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(), attributes, 0,
                                     nullptr, nullptr, &timeout, static_cast<int>(settings_.size_limit), &raw);
    const LdapResult result(raw);
    connection_broken = breaks_connection(rc);
    if (rc == LDAP_SIZELIMIT_EXCEEDED)
        return {LdapAnswer::Status::Error, {},
                where + ": more than " + std::to_string(settings_.size_limit) + " entries match " + filter};
    if (rc != LDAP_SUCCESS)
        return {LdapAnswer::Status::Error, {}, where + ": search " + filter + " failed: " + error_text(rc) + diagnostic(ld)};

    std::vector<std::string> values;
    std::string notes;
    for (LDAPMessage* entry = ldap_first_entry(ld, result.get()); entry; entry = ldap_next_entry(ld, entry)) {
        const LdapValues found(ldap_get_values_len(ld, entry, settings_.attribute.c_str()));
        if (!found) continue;
        for (berval** v = found.get(); *v; ++v) {
            if ((*v)->bv_len > settings_.max_key_size) {
                notes += "; a value of " + std::to_string((*v)->bv_len) + " bytes exceeds max_key_size";
                continue;
            }
            values.emplace_back((*v)->bv_val, (*v)->bv_len);
        }
    }
    if (values.empty())
        return {LdapAnswer::Status::NoEntry, {}, where + ": no entry with " + settings_.attribute + " matches " + filter + notes};
    if (values.size() == 1) return {LdapAnswer::Status::Found, std::move(values.front()), {}};
    // Several values (or entries): their keys as one run of binary packets, as a key file with several keys.
    LdapAnswer answer{LdapAnswer::Status::Found, {}, {}};
    for (const std::string& value : values) {
        const SplitKeys split = split_public_keys(value);
        if (!split.ok()) continue;
        for (const TransferableKey& key : split.keys) answer.data += key.packets;
    }
    if (answer.data.empty()) return {LdapAnswer::Status::NoEntry, {}, where + ": no value of " + settings_.attribute +
                                                                        " matching " + filter + " is OpenPGP key data"};
    return answer;
}

LdapAnswer LdapDirectory::search(std::string_view local, std::string_view domain) {
    const std::string filter = expand_ldap_filter(settings_.filter, local, domain);
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::unique_ptr<Connection> connection;
        bool reused = false;
        {
            std::lock_guard lock(mutex_);
            if (attempt == 0 && !idle_.empty()) {
                connection = std::move(idle_.back());
                idle_.pop_back();
                reused = true;
            }
        }
        if (!connection) {
            std::string failures;
            connection = connect(failures);
            if (!connection) return {LdapAnswer::Status::Error, {}, "no LDAP server usable: " + failures};
        }
        bool broken = false;
        LdapAnswer answer = search_on(*connection, filter, broken);
        if (broken) {
            std::lock_guard lock(mutex_);
            idle_.clear();  // kept connections to a server that went away are as dead as this one
        }
        if (broken && reused) continue;  // the server may have closed an idle connection: once more on a new one
        if (!broken) {
            std::lock_guard lock(mutex_);
            if (idle_.size() < kMaxIdle) idle_.push_back(std::move(connection));
        }
        return answer;
    }
    return {LdapAnswer::Status::Error, {}, "no answer"};  // not reached: attempt 1 never continues
}

}  // namespace mdcrypt
