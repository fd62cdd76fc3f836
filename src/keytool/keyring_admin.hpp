// The server keyring's administration for mdcrypt-keys: import, remove and record keys in the GnuPG
// home the milter reads, through GPGME, so that every change also updates the home's
// mdcrypt-expected-keys (expected_keys.hpp) and a key can only leave the keyring on purpose.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/keys.hpp"

namespace mdcrypt::keytool {

// A refusal or failure the administrator must read; what() says which key or file and why.
class AdminError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One key as the milter would judge it: for each of its addresses, usable or why not.
struct KeyReport {
    std::string fingerprint;
    struct Address {
        std::string address;
        bool usable = false;
        std::string reason;  // why not, when not usable
    };
    std::vector<Address> addresses;
    bool recorded = false;  // named in mdcrypt-expected-keys
    bool usable() const;    // for at least one address
};

struct KeyringReport {
    std::vector<KeyReport> keys;                  // in keyring order
    std::vector<std::string> missing;             // recorded fingerprints the keyring lacks
    bool has_expected_keys = false;               // the home has mdcrypt-expected-keys
};

class KeyringAdmin {
public:
    KeyringAdmin(std::filesystem::path home, TrustModel trust, std::filesystem::path gpg_program = {});

    // The keyring as the milter sees it at `now`. Throws AdminError when the listing fails.
    KeyringReport report(std::int64_t now) const;

    // Imports the public keys in `key_data` (armored or binary). Refuses all of them, importing none,
    // when one is secret key material, not OpenPGP, or usable for none of its addresses (no user ID
    // with an address, no valid encryption subkey, expired, revoked), or when the keyring already
    // lacks recorded keys. Then records the keyring. Returns the imported keys' reports.
    std::vector<KeyReport> import_keys(std::string_view key_data, std::int64_t now) const;

    // Removes the key with this fingerprint, or every key with a user ID for this address, and
    // records the keyring. Returns the removed fingerprints; AdminError when none matched.
    std::vector<std::string> remove(std::string_view fingerprint_or_address) const;

    // Writes mdcrypt-expected-keys for the keyring as it is now (every key with its addresses).
    // Returns the number of keys recorded.
    std::size_t record() const;

private:
    std::filesystem::path home_;
    TrustModel trust_;
    std::filesystem::path gpg_program_;
};

}  // namespace mdcrypt::keytool
