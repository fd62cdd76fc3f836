// Public keys from files outside the GnuPG home (a user's key file, a local WKD tree), turned into the
// core's KeyFacts without importing them anywhere.
//
// A file is read (regular files only, at most max_file_size bytes, armored or binary), cut into its keys
// (split_public_keys), and listed by gpg --show-keys (gpgme_op_keylist_from_data_start): one gpg process
// per new or changed file; or in-process by librnp (KeyLister::Rnp). The result is cached under the
// file's (path, device, inode, size, mtime in ns), so an unchanged file costs one stat per lookup and a
// replaced or edited one is read again on the next lookup, with no reload. Failures that belong to the
// file (missing, unreadable, too large, not a key, secret key material, someone else's key) are NotFound
// with a reason that names the path and never quotes the file; they are cached like keys, so a broken
// file costs no gpg until it changes. Only a gpg that cannot run, or stops with an error that is not
// about the data, gives Error (not cached: the next lookup tries again). Thread-safe; lookups wait for
// no one but a concurrent first read of the same file may list it twice.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/decision.hpp"
#include "core/keys.hpp"
#include "crypto/file_stamp.hpp"
#include "crypto/gpg_engine.hpp"
#include "crypto/key_index.hpp"

namespace mdcrypt {

class KeyFileCache {
public:
    struct Limits {
        std::size_t max_file_size = std::size_t{1} << 20;    // larger files are "no key"
        std::size_t max_entries = 4096;                      // cached files, least recently used go first
        std::chrono::seconds gpg_timeout = kDefaultGpgTimeout;  // one listing, then gpg is killed
        std::size_t max_cached_bytes = std::size_t{64} << 20; // key bytes kept in the cache
    };

    // gpg runs on `home` (the server's GnuPG home; --show-keys writes nothing there). Throws
    // GpgmeInitError like GpgEngine. With KeyLister::Rnp, librnp lists the keys in-process and no gpg
    // is needed; key data librnp cannot load, or loads without every key it holds, is an Error (the
    // file is named; not cached), never "no key".
    KeyFileCache(std::filesystem::path home, std::filesystem::path gpg_program = {});
    KeyFileCache(std::filesystem::path home, std::filesystem::path gpg_program, Limits limits,
                 KeyLister lister = KeyLister::Gpg);

    // The usable key for `address` in the file at `path`, chosen by choose_key (user ID must match,
    // valid unexpired encryption subkey, not revoked). Found keys carry their key block. `kind` names
    // the source in reasons and in UsableKey::source ("file", "wkd").
    KeyLookup lookup(const std::filesystem::path& path, std::string_view kind, std::string_view address, std::int64_t now);

    // The same for key data that did not come from a file (a directory's answer): `name` identifies
    // it in the cache and in reasons ("ldap alice@example.org"). Listed again only when the data
    // differs from what was listed under that name last time.
    KeyLookup lookup_data(std::string_view kind, std::string_view name, const std::string& data, std::string_view address,
                          std::int64_t now);

    // How many files were listed (with gpg or librnp) since construction (tests, statistics).
    std::uint64_t listings() const;
    std::size_t cached_files() const;

private:
    struct Entry;
    struct Loaded;

    Loaded load(const std::filesystem::path& path, std::string_view kind) const;
    Loaded list(std::shared_ptr<Entry> entry, const std::string& bytes, const std::string& where) const;
    // Fills `keys`, or ends the listing early: an Error, or the file's own problem.
    std::optional<Loaded> list_with_gpg(std::shared_ptr<Entry> entry, const std::string& bytes, const std::string& where,
                                        std::vector<KeyFacts>& keys, bool& finished) const;
    // The cached entry under `key` if `is_current` accepts it (same file stamp, same data), marked used.
    std::shared_ptr<const Entry> cached(const std::pair<std::string, std::string>& key,
                                        const std::function<bool(const Entry&)>& is_current);
    void remember(const std::pair<std::string, std::string>& key, std::shared_ptr<const Entry> entry);
    // The key `entry` offers for `address` now, or why none ("WHERE: reason").
    static KeyLookup choose(const Entry& entry, const std::string& where, std::string_view address, std::int64_t now);

    std::filesystem::path home_;
    KeyLister lister_;
    std::optional<GpgEngine> engine_;  // KeyLister::Gpg only
    Limits limits_;

    mutable std::mutex mutex_;  // guards the cache below
    std::map<std::pair<std::string, std::string>, std::shared_ptr<const Entry>> entries_;  // (kind, path)
    std::map<std::pair<std::string, std::string>, std::uint64_t> last_used_;
    std::uint64_t clock_ = 0;
    std::size_t cached_bytes_ = 0;
    mutable std::atomic<std::uint64_t> listings_{0};
};

}  // namespace mdcrypt
