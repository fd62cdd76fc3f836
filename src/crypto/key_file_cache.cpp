#include "crypto/key_file_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>

#include "core/file_descriptor.hpp"
#include "core/header.hpp"
#include "core/openpgp_keys.hpp"
#include "core/sha1.hpp"
#include "core/text.hpp"
#include "crypto/gpg_operation.hpp"
#include "crypto/key_index.hpp"
#include "crypto/rnp_key_listing.hpp"

namespace mdcrypt {

struct KeyFileCache::Entry {
    FileStamp stamp;             // key files: the file as listed
    Sha1Digest digest{};         // key data from elsewhere (lookup_data): the data as listed
    std::vector<KeyFacts> keys;  // each with its key block, or marked invalid (see notes)
    std::string problem;         // why the file holds no key at all; empty when it was listed
    std::string notes;           // keys gpg listed that cannot be handed to gpg alone
    std::size_t bytes = 0;       // the key bytes this entry keeps
};

struct KeyFileCache::Loaded {
    std::shared_ptr<const Entry> entry;  // what to cache; null when the failure is not the file's
    KeyLookup failure;                   // when entry is null
};

namespace {

// GPGME's status callback: notes gpg's IMPORT_RES, the line a complete dry-run import ends with.
gpgme_error_t note_import_result(void* finished, const char* keyword, const char* /*args*/) noexcept {
    if (keyword && std::string_view(keyword) == "IMPORT_RES") *static_cast<bool*>(finished) = true;
    return 0;
}

// Errors that say "this data is not a usable key" rather than "gpg did not run through".
bool is_data_error(gpgme_error_t err) {
    switch (gpgme_err_code(err)) {
        case GPG_ERR_INV_KEYRING:
        case GPG_ERR_INV_PACKET:
        case GPG_ERR_BAD_DATA:
        case GPG_ERR_NO_DATA:
        case GPG_ERR_INV_DATA:
        case GPG_ERR_UNKNOWN_PACKET:
        case GPG_ERR_UNKNOWN_VERSION:
        case GPG_ERR_TRUNCATED:
        case GPG_ERR_BAD_KEY:
        case GPG_ERR_BAD_PUBKEY:
        case GPG_ERR_PUBKEY_ALGO:
        case GPG_ERR_UNUSABLE_PUBKEY:
            return true;
        default:
            return false;
    }
}

KeyLookup not_found(std::string reason) { return KeyLookup{KeyLookup::Status::NotFound, std::nullopt, std::move(reason)}; }

}  // namespace

KeyFileCache::KeyFileCache(std::filesystem::path home, std::filesystem::path gpg_program)
    : KeyFileCache(std::move(home), std::move(gpg_program), Limits{}) {}

KeyFileCache::KeyFileCache(std::filesystem::path home, std::filesystem::path gpg_program, Limits limits, KeyLister lister)
    : home_(std::move(home)), lister_(lister), limits_(limits) {
    if (lister_ == KeyLister::Gpg) engine_.emplace(home_, std::move(gpg_program), limits.gpg_timeout);
}

KeyFileCache::Loaded KeyFileCache::load(const std::filesystem::path& path, std::string_view kind) const {
    const std::string where = std::string(kind) + " " + path.string();
    // O_NONBLOCK: a FIFO put where the key file should be must not hang the lookup.
    const FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) return {nullptr, not_found(where + ": cannot open: " + std::strerror(errno))};
    struct stat st{};
    if (::fstat(fd.get(), &st) != 0) return {nullptr, not_found(where + ": cannot stat: " + std::strerror(errno))};

    auto entry = std::make_shared<Entry>();
    entry->stamp = stamp_of(st);
    if (!S_ISREG(st.st_mode)) {
        entry->problem = "not a regular file";
        return {entry, {}};
    }
    if (static_cast<std::uint64_t>(st.st_size) > limits_.max_file_size) {
        entry->problem = "larger than " + std::to_string(limits_.max_file_size) + " bytes, not read";
        return {entry, {}};
    }
    std::string bytes;
    bytes.resize(limits_.max_file_size + 1);
    std::size_t filled = 0;
    while (filled < bytes.size()) {
        const ssize_t n = ::read(fd.get(), bytes.data() + filled, bytes.size() - filled);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return {nullptr, not_found(where + ": read error: " + std::strerror(errno))};
        if (n == 0) break;
        filled += static_cast<std::size_t>(n);
    }
    bytes.resize(filled);
    if (filled > limits_.max_file_size) {  // it grew after the fstat
        entry->problem = "larger than " + std::to_string(limits_.max_file_size) + " bytes, not read";
        return {entry, {}};
    }
    return list(std::move(entry), bytes, where);
}

std::optional<KeyFileCache::Loaded> KeyFileCache::list_with_gpg(std::shared_ptr<Entry> entry, const std::string& bytes,
                                                               const std::string& where, std::vector<KeyFacts>& keys,
                                                               bool& finished) const {
    // gpg --show-keys: lists the keys in the data, imports nothing.
    const std::string doing = where + ": listing its keys with gpg";
    try {
        GpgmeContext ctx = engine_->new_context();
        gpgme_set_offline(ctx.get(), 1);
        (void)gpgme_set_ctx_flag(ctx.get(), "trust-model", "always");
        gpgme_data_t raw = nullptr;
        if (const gpgme_error_t err = gpgme_data_new_from_mem(&raw, bytes.data(), bytes.size(), 0))
            return Loaded{nullptr, KeyLookup{KeyLookup::Status::Error, std::nullopt, doing + ": " + gpgme_error_text(err)}};
        const GpgmeData data(raw);
        (void)gpgme_set_ctx_flag(ctx.get(), "full-status", "1");  // every status line to the callback
        gpgme_set_status_cb(ctx.get(), note_import_result, &finished);
        GpgOperation op(ctx.get(), engine_->timeout());
        gpgme_error_t err = gpgme_op_keylist_from_data_start(ctx.get(), data.get(), 0);
        if (!err) err = op.run();
        if (!is_data_error(err)) op.count_failure(GpgRun::ListKeyFile, err);
        if (op.end() != GpgOperation::End::Done)
            return Loaded{nullptr, KeyLookup{KeyLookup::Status::Error, std::nullopt, doing + ": " + op.why_ended()}};
        if (err && !is_data_error(err))  // gpg did not get through it: try again next time
            return Loaded{nullptr, KeyLookup{KeyLookup::Status::Error, std::nullopt, doing + ": " + gpgme_error_text(err)}};
        if (err) {
            // gpg read the data and refused it: the file's fault. gpg's own words are not quoted:
            // they may quote the file.
            entry->problem = "gpg cannot list the keys in it (" + gpgme_error_text(err) + ")";
            return Loaded{entry, {}};
        }
        for (const GpgmeKey& key : op.take_keys()) keys.push_back(key_facts_from_gpgme(*key, TrustModel::ServerKeyring, where));
    } catch (const std::exception& e) {  // no context: gpg cannot run at all
        return Loaded{nullptr, KeyLookup{KeyLookup::Status::Error, std::nullopt, doing + ": " + e.what()}};
    }
    return std::nullopt;  // listed: `keys` holds what gpg listed
}

KeyFileCache::Loaded KeyFileCache::list(std::shared_ptr<Entry> entry, const std::string& bytes,
                                        const std::string& where) const {
    const SplitKeys split = split_public_keys(bytes);
    if (!split.ok()) {
        entry->problem = "not an OpenPGP public key file: " + split.error;
        return {entry, {}};
    }

    ++listings_;
    std::vector<KeyFacts> keys;
    bool finished = false;  // gpg ended its listing with IMPORT_RES
    if (lister_ == KeyLister::Gpg) {
        if (std::optional<Loaded> ended = list_with_gpg(entry, bytes, where, keys, finished)) return std::move(*ended);
    } else {
        try {
            keys = rnp_list_key_data(bytes, where, where);
            mark_disabled_keys(keys, home_, where);  // gpg --show-keys honours the home's trust database too
        } catch (const KeyListError& e) {
            // The data passed our own framing check but librnp refuses it (or the trust database is
            // unreadable): defer rather than call the recipient keyless on one engine's word.
            return {nullptr, KeyLookup{KeyLookup::Status::Error, std::nullopt, e.what()}};
        }
    }
    for (KeyFacts& facts : keys) {
        const auto same = [&](const TransferableKey& k) { return iequals(k.fingerprint, facts.fingerprint); };
        const auto count = std::count_if(split.keys.begin(), split.keys.end(), same);
        if (count == 1 && !facts.fingerprint.empty()) {
            const auto it = std::find_if(split.keys.begin(), split.keys.end(), same);
            facts.key_block = std::make_shared<const std::string>(it->packets);
            entry->bytes += it->packets.size();
        } else {
            // gpg -f would take the first key of a file: only a key that can be cut out exactly is usable.
            facts.invalid = true;
            entry->notes += "; key " + facts.fingerprint +
                            (count == 0 ? " is not a version 4 key this server can pass to gpg on its own"
                                        : " occurs more than once in the file");
        }
        entry->bytes += facts.fingerprint.size() + 256;
        entry->keys.push_back(std::move(facts));
    }
    // A complete listing: gpg ended with IMPORT_RES (GPGME lists key data by a dry-run import), or listed
    // every key of the file. Neither means gpg stopped early (killed, crashed, or "Fatal: can't open
    // trustdb.gpg"): not the file's fault, and not cached. librnp has no such end mark: it must list
    // every key.
    const bool all_listed = std::all_of(split.keys.begin(), split.keys.end(), [&](const TransferableKey& cut) {
        return cut.fingerprint.empty() || std::any_of(entry->keys.begin(), entry->keys.end(),
                                                      [&](const KeyFacts& k) { return iequals(k.fingerprint, cut.fingerprint); });
    });
    if (!finished && !all_listed)
        return {nullptr, KeyLookup{KeyLookup::Status::Error, std::nullopt,
                                   where + ": listing its keys with " + std::string(to_string(lister_)) +
                                       (lister_ == KeyLister::Gpg ? ": gpg stopped before the end of its listing (listed "
                                                                  : ": librnp listed only ") +
                                       std::to_string(entry->keys.size()) + " of " + std::to_string(split.keys.size()) +
                                       (lister_ == KeyLister::Gpg ? " keys, no IMPORT_RES status)" : " keys")}};
    if (entry->keys.empty()) entry->problem = std::string(to_string(lister_)) + " found no usable OpenPGP public key in it";
    return {entry, {}};
}

std::shared_ptr<const KeyFileCache::Entry> KeyFileCache::cached(const std::pair<std::string, std::string>& key,
                                                                 const std::function<bool(const Entry&)>& is_current) {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key);
    if (it == entries_.end() || !is_current(*it->second)) return nullptr;
    last_used_[key] = ++clock_;
    return it->second;
}

KeyLookup KeyFileCache::choose(const Entry& entry, const std::string& where, std::string_view address, std::int64_t now) {
    if (!entry.problem.empty()) return not_found(where + ": " + entry.problem);
    KeyAssessment chosen = choose_key(entry.keys, address, now);
    if (chosen.key) return KeyLookup{KeyLookup::Status::Found, std::move(chosen.key), {}};
    return not_found(where + ": " + chosen.reason + entry.notes);
}

void KeyFileCache::remember(const std::pair<std::string, std::string>& key, std::shared_ptr<const Entry> entry) {
    std::lock_guard lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) {
        cached_bytes_ -= it->second->bytes;
        entries_.erase(it);
    }
    cached_bytes_ += entry->bytes;
    entries_[key] = std::move(entry);
    last_used_[key] = ++clock_;
    while (entries_.size() > 1 && (entries_.size() > limits_.max_entries || cached_bytes_ > limits_.max_cached_bytes)) {
        const auto oldest = std::min_element(last_used_.begin(), last_used_.end(),
                                             [](const auto& a, const auto& b) { return a.second < b.second; });
        const auto it = entries_.find(oldest->first);
        cached_bytes_ -= it->second->bytes;
        entries_.erase(it);
        last_used_.erase(oldest);
    }
}

KeyLookup KeyFileCache::lookup(const std::filesystem::path& path, std::string_view kind, std::string_view address,
                               std::int64_t now) {
    const std::string where = std::string(kind) + " " + path.string();
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR) return not_found(where + ": no such file");
        return not_found(where + ": cannot stat: " + std::strerror(errno));
    }
    const FileStamp stamp = stamp_of(st);
    const auto key = std::make_pair(std::string(kind), path.string());

    std::shared_ptr<const Entry> entry = cached(key, [&](const Entry& e) { return e.stamp == stamp; });
    if (!entry) {
        Loaded loaded = load(path, kind);
        if (!loaded.entry) return loaded.failure;
        entry = loaded.entry;
        remember(key, entry);
    }
    return choose(*entry, where, address, now);
}

KeyLookup KeyFileCache::lookup_data(std::string_view kind, std::string_view name, const std::string& data,
                                    std::string_view address, std::int64_t now) {
    const std::string where = std::string(kind) + " " + std::string(name);
    const auto key = std::make_pair(std::string(kind), std::string(name));
    const Sha1Digest digest = sha1(data);

    std::shared_ptr<const Entry> entry = cached(key, [&](const Entry& e) { return e.digest == digest; });
    if (!entry) {
        auto fresh = std::make_shared<Entry>();
        fresh->digest = digest;
        if (data.size() > limits_.max_file_size) {
            fresh->problem = "larger than " + std::to_string(limits_.max_file_size) + " bytes, not used";
            entry = fresh;
        } else {
            Loaded loaded = list(std::move(fresh), data, where);
            if (!loaded.entry) return loaded.failure;
            entry = loaded.entry;
        }
        remember(key, entry);
    }
    return choose(*entry, where, address, now);
}

std::uint64_t KeyFileCache::listings() const { return listings_.load(); }

std::size_t KeyFileCache::cached_files() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace mdcrypt
