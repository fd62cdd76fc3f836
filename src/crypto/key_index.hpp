// The public keys of one GnuPG home, indexed by e-mail address, so that looking up a recipient's key
// starts no gpg process.
//
// One keylist operation (one gpg process, or with KeyLister::Rnp one in-process librnp load of the
// keyring file and no gpg at all) builds the index. Each lookup stats the keyring files
// (pubring.kbx, pubring.gpg, trustdb.gpg, mdcrypt-expected-keys: device, inode, size, mtime in ns)
// once, and the index is rebuilt only when they changed: importing or revoking a key is seen by the
// next lookup, without a restart. Lookups share an immutable snapshot and never wait for each other,
// except while one thread rebuilds (the others wait for its result rather than starting gpg themselves).
//
// A listing is accepted only when it is complete: every key the keyring file holds by its own framing
// (keyring_file.hpp) was listed, the file is well formed, and gpg's diagnostics report no failure.
// Otherwise the lookup is an Error (the recipient is deferred), and nothing is cached: the next lookup
// lists again. Keys the administrator recorded (expected_keys.hpp) but the keyring lacks make lookups
// of their addresses an Error; without such a record, a keyring that suddenly lists none or less than
// half of the keys it held does the same for the addresses it lost.
#pragma once

#include <gpgme.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/decision.hpp"
#include "core/keys.hpp"
#include "crypto/file_stamp.hpp"
#include "crypto/gpg_engine.hpp"

namespace mdcrypt {

// Listing the keys failed; what() names the home and carries GPGME's error and gpg's own words.
class KeyListError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The facts of one listed key, as the core's assess_key reads them. Pure. `key->subkeys` starts with
// the primary key, as KeyFacts::subkeys does. Under TrustModel::GnupgTrustDb a user ID whose validity
// is below full counts as invalid: gpg itself would refuse to encrypt to it. A key or subkey gpg calls
// expired without giving a date counts as invalid.
KeyFacts key_facts_from_gpgme(const _gpgme_key& key, TrustModel trust, const std::string& source);

// gpg exits with an error but no status line when it cannot read a keyring, and GPGME then reports a
// normal end of the key list: an empty or partial index that would turn "cannot read the keys" into
// "no key" (and mail into plain text). So the keylist's diagnostics are read too: true when they
// contain words of gpg's messages about unreadable keyrings or trust databases ("failed", "fatal",
// "can't open", "invalid packet", ...; ASCII case-insensitive) outside the home's own path. Benign
// notes ("checking the trustdb", "unsafe permissions") do not count. Pure.
bool diagnostics_report_failure(std::string_view diagnostics, std::string_view home);

// What lists the keys of the keyring and of key files: gpg through GPGME, or librnp in-process
// (rnp_key_listing.hpp; server-keyring trust only: librnp cannot read gpg's trust database).
enum class KeyLister { Gpg, Rnp };
std::string_view to_string(KeyLister lister);

struct KeyringStamp {
    FileStamp pubring_kbx;
    FileStamp pubring_gpg;
    FileStamp trustdb;
    FileStamp expected_keys;  // the home's mdcrypt-expected-keys
    bool operator==(const KeyringStamp&) const = default;
};

KeyringStamp stat_keyring(const std::filesystem::path& home);

// A file of the GnuPG home, whole: nullopt when it does not exist. Throws KeyListError naming it (and
// `where`) when it cannot be read or holds more than `limit` bytes.
std::optional<std::string> read_home_file(const std::filesystem::path& file, const std::string& where, std::size_t limit);

class KeyIndex {
public:
    // Lists nothing yet: the first lookup builds the index. A listing may take `timeout`, then gpg is
    // killed and the listing failed. Throws GpgmeInitError (see GpgEngine). KeyLister::Rnp needs no gpg
    // (`gpg_program` and `timeout` are unused) and takes TrustModel::ServerKeyring only
    // (std::invalid_argument otherwise).
    KeyIndex(std::filesystem::path home, TrustModel trust, std::filesystem::path gpg_program = {},
             std::chrono::seconds timeout = kDefaultGpgTimeout, KeyLister lister = KeyLister::Gpg);

    // The key to encrypt to for `address` (ASCII case-insensitive) at `now` (seconds since the epoch),
    // chosen by choose_key. NotFound names the rejected fingerprints and why; a failed key listing is
    // Error with gpg's reason, never NotFound.
    KeyLookup lookup(std::string_view address, std::int64_t now);

    // Keys usable at `now` for at least one of their user IDs' addresses. Throws KeyListError when the
    // listing failed or keys the keyring should hold are missing (the start-up and --check-config check).
    std::size_t usable_key_count(std::int64_t now);

    // Every key of a complete listing, in keyring order (what mdcrypt-keys records). Unlike
    // usable_key_count, keys the expected-keys file names but the keyring lacks do not make it throw:
    // recording the keyring as it is, is how the administrator says that was on purpose. Throws
    // KeyListError when the listing failed.
    std::vector<KeyFacts> listed_keys();

    const std::string& source() const { return source_; }
    KeyLister lister() const { return lister_; }

private:
    struct Snapshot;
    std::shared_ptr<const Snapshot> current();  // throws KeyListError
    std::shared_ptr<Snapshot> build(const KeyringStamp& stamp) const;  // throws KeyListError
    void guard_against_lost_keys(const std::shared_ptr<Snapshot>& fresh);  // under rebuild_mutex_

    struct Listing;
    Listing list_with_gpg(const KeyringStamp& stamp, const std::string& where) const;  // throws KeyListError

    std::filesystem::path home_;
    KeyLister lister_;
    std::optional<GpgEngine> engine_;  // KeyLister::Gpg only
    TrustModel trust_;
    std::string source_;

    std::mutex snapshot_mutex_;  // guards snapshot_ only; held for a pointer copy
    std::shared_ptr<const Snapshot> snapshot_;
    std::mutex rebuild_mutex_;  // one rebuild at a time
    std::shared_ptr<const Snapshot> baseline_;  // the last listing that lost no keys; under rebuild_mutex_
};

}  // namespace mdcrypt
