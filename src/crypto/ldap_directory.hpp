// The [ldap] directory on the OpenLDAP client library: one search per lookup for the entries the
// filter template names for an address, and the values of the key attribute.
//
// Connections: a small pool. A lookup takes an idle connection (or opens one) under a mutex, uses it
// alone, and puts it back when it is still good, so milter threads never share an LDAP* and never
// wait for each other's searches; at most kMaxIdle connections are kept. A new connection tries the
// URIs in order (failover): the first that connects, does its TLS and accepts the bind is used. A
// kept connection the server has closed meanwhile is retried once on a new connection.
//
// Every step (connect, StartTLS, bind, search) is bounded by timeout_seconds; a search returns at most
// size_limit entries (more: an error, the address is ambiguous) and only the key attribute; values
// larger than max_key_size are not used. With TLS the server certificate is always checked (DEMAND)
// against ca_file or the system's CAs. The bind password is read from its file for each new
// connection, so a changed password needs no reload; it is never logged.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"

namespace mdcrypt {

struct LdapAnswer {
    enum class Status {
        Found,    // data holds the key data of every matching entry (binary OpenPGP packets, or one value as is)
        NoEntry,  // the directory answered: no entry, or entries without the attribute
        Error,    // the directory could not be asked or answered an error: reason names server and cause
    };
    Status status = Status::Error;
    std::string data;
    std::string reason;
};

class LdapDirectory {
public:
    static constexpr std::size_t kMaxIdle = 8;

    explicit LdapDirectory(LdapSettings settings);
    ~LdapDirectory();
    LdapDirectory(const LdapDirectory&) = delete;
    LdapDirectory& operator=(const LdapDirectory&) = delete;

    // Thread-safe.
    LdapAnswer search(std::string_view local, std::string_view domain);

    // Connections opened since construction (tests: a cached answer opens none).
    std::size_t connections_opened() const;

private:
    struct Connection;
    std::unique_ptr<Connection> connect(std::string& failures);
    LdapAnswer search_on(Connection& connection, const std::string& filter, bool& connection_broken) const;

    LdapSettings settings_;
    mutable std::mutex mutex_;  // guards idle_ and opened_
    std::vector<std::unique_ptr<Connection>> idle_;
    std::size_t opened_ = 0;
};

}  // namespace mdcrypt
