#include "crypto/key_index.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "core/expected_keys.hpp"
#include "core/file_descriptor.hpp"
#include "core/header.hpp"
#include "core/keyring_file.hpp"
#include "core/text.hpp"
#include "crypto/gpg_operation.hpp"
#include "crypto/rnp_key_listing.hpp"

namespace mdcrypt {

struct KeyIndex::Snapshot {
    KeyringStamp stamp;
    bool has_expected_keys = false;  // the home has an mdcrypt-expected-keys file
    std::vector<KeyFacts> keys;
    // Addresses whose keys the keyring should hold but does not list (lower-case), and why; a reason
    // in every_address puts all addresses in doubt. A lookup for them fails rather than finding no key.
    std::unordered_map<std::string, std::string> in_doubt;
    std::string every_address;
    struct Entry {
        std::vector<KeyFacts> keys;
        std::vector<std::string> below_full_validity;  // fingerprints rejected by the trust database
    };
    std::unordered_map<std::string, Entry> by_address;  // lower-cased address
};

namespace {

// gpg would quietly list nothing from a keyring it cannot open: check first, and say why.
void check_readable(const std::filesystem::path& file, const FileStamp& stamp, const std::string& where) {
    if (stamp.error) throw KeyListError(where + ": cannot stat " + file.string() + ": " + std::strerror(stamp.error));
    if (!stamp.exists) return;
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw KeyListError(where + ": cannot read " + file.string() + ": " + std::strerror(errno));
    ::close(fd);
}

bool uid_below_full(const _gpgme_user_id& uid) { return uid.validity < GPGME_VALIDITY_FULL; }

// Keyrings are read whole to check gpg's listing against them; larger ones are refused, not guessed at.
constexpr std::size_t kMaxKeyringFile = std::size_t{256} << 20;

// The whole file, or KeyListError naming it.
std::string read_whole(const std::filesystem::path& file, const std::string& where) {
    std::optional<std::string> bytes = read_home_file(file, where, kMaxKeyringFile);
    if (!bytes) throw KeyListError(where + ": cannot read " + file.string() + ": " + std::strerror(ENOENT));
    return std::move(*bytes);
}

// The keyring file in use and the keys it holds by its own framing: what a listing must contain. gpg
// uses pubring.kbx when it exists, else pubring.gpg; neither means no keys yet.
struct KeyringFile {
    std::filesystem::path path;  // empty: no keyring file yet
    bool keybox = false;
    std::string bytes;
    KeyringContents contents;
};

KeyringFile read_keyring(const std::filesystem::path& home, const KeyringStamp& stamp, const std::string& where) {
    KeyringFile file;
    if (!stamp.pubring_kbx.exists && !stamp.pubring_gpg.exists) return file;
    file.keybox = stamp.pubring_kbx.exists;
    file.path = home / (file.keybox ? "pubring.kbx" : "pubring.gpg");
    file.bytes = read_whole(file.path, where);
    file.contents = file.keybox ? read_keybox(file.bytes) : read_legacy_keyring(file.bytes);
    if (!file.contents.ok()) throw KeyListError(where + ": " + file.path.string() + " is damaged: " + file.contents.error);
    return file;
}

std::string joined(const std::vector<ExpectedKey>& keys, std::size_t at_most = 5) {
    std::string out;
    for (std::size_t i = 0; i < keys.size() && i < at_most; ++i) out += (i ? ", " : "") + keys[i].fingerprint;
    if (keys.size() > at_most) out += " and " + std::to_string(keys.size() - at_most) + " more";
    return out;
}

}  // namespace

KeyFacts key_facts_from_gpgme(const _gpgme_key& key, TrustModel trust, const std::string& source) {
    KeyFacts facts;
    if (key.fpr) facts.fingerprint = key.fpr;
    else if (key.subkeys && key.subkeys->fpr) facts.fingerprint = key.subkeys->fpr;
    facts.revoked = key.revoked;
    facts.disabled = key.disabled;
    facts.invalid = key.invalid;
    facts.source = source;
    if (key.subkeys) facts.expires = key.subkeys->expires;
    if (key.expired && facts.expires == 0) facts.invalid = true;

    for (gpgme_user_id_t uid = key.uids; uid; uid = uid->next) {
        UserIdFacts u;
        if (uid->address) u.address = uid->address;
        u.revoked = uid->revoked;
        u.invalid = uid->invalid || (trust == TrustModel::GnupgTrustDb && uid_below_full(*uid));
        facts.user_ids.push_back(std::move(u));
    }
    for (gpgme_subkey_t sub = key.subkeys; sub; sub = sub->next) {
        SubkeyFacts s;
        s.can_encrypt = sub->can_encrypt;
        s.revoked = sub->revoked;
        s.disabled = sub->disabled;
        s.invalid = sub->invalid || (sub->expired && sub->expires == 0);
        s.expires = sub->expires;
        facts.subkeys.push_back(s);
    }
    return facts;
}

bool diagnostics_report_failure(std::string_view diagnostics, std::string_view home) {
    std::string text = to_lower_ascii(diagnostics);
    const std::string lower_home = to_lower_ascii(home);
    if (!lower_home.empty())
        for (std::size_t at; (at = text.find(lower_home)) != std::string::npos;) text.replace(at, lower_home.size(), "<home>");
    // From gpg's messages when a keyring or the trust database cannot be read; per-key notes (an
    // unsupported algorithm, a bad self-signature) do not stop a listing and are not among them.
    static constexpr std::array kFailureWords{"failed",        "fatal",          "can't open",      "cannot open",
                                              "can't lock",    "error reading",  "error opening",   "read error",
                                              "invalid packet", "invalid keyring", "corrupt",        "permission denied",
                                              "keydb_",        "keybox_"};
    return std::any_of(kFailureWords.begin(), kFailureWords.end(),
                       [&](const char* word) { return text.find(word) != std::string::npos; });
}

KeyringStamp stat_keyring(const std::filesystem::path& home) {
    return KeyringStamp{stat_file(home / "pubring.kbx"), stat_file(home / "pubring.gpg"), stat_file(home / "trustdb.gpg"),
                        stat_file(home / kExpectedKeysFile)};
}

std::optional<std::string> read_home_file(const std::filesystem::path& file, const std::string& where,
                                          std::size_t limit) {
    const FileDescriptor fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw KeyListError(where + ": cannot read " + file.string() + ": " + std::strerror(errno));
    }
    std::string bytes;
    char buffer[65536];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw KeyListError(where + ": cannot read " + file.string() + ": " + std::strerror(errno));
        if (n == 0) break;
        bytes.append(buffer, static_cast<std::size_t>(n));
        if (bytes.size() > limit)
            throw KeyListError(where + ": " + file.string() + " is larger than " + std::to_string(limit >> 20) +
                               " MiB, more than this server reads");
    }
    return bytes;
}

std::string_view to_string(KeyLister lister) { return lister == KeyLister::Rnp ? "librnp" : "gpg"; }

namespace {

std::filesystem::path checked_home(const std::filesystem::path& home) {
    std::filesystem::path absolute = std::filesystem::absolute(home).lexically_normal();
    struct stat st{};
    if (::stat(absolute.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw GpgmeInitError("GnuPG home " + absolute.string() + " is not an existing directory");
    return absolute;
}

}  // namespace

KeyIndex::KeyIndex(std::filesystem::path home, TrustModel trust, std::filesystem::path gpg_program,
                   std::chrono::seconds timeout, KeyLister lister)
    : home_(checked_home(home)), lister_(lister), trust_(trust), source_("keyring " + home_.string()) {
    if (lister_ == KeyLister::Rnp && trust_ != TrustModel::ServerKeyring)
        throw std::invalid_argument("librnp cannot read gpg's trust database: the gnupg-trustdb trust model lists keys with gpg");
    if (lister_ == KeyLister::Gpg) engine_.emplace(home_, std::move(gpg_program), timeout);
}

struct KeyIndex::Listing {
    std::vector<KeyFacts> keys;
    // Per key, per user ID: valid, but below full validity in the trust database (gnupg-trustdb only).
    std::vector<std::vector<bool>> below_full;
    std::string diagnostics;  // gpg's
};

KeyIndex::Listing KeyIndex::list_with_gpg(const KeyringStamp& stamp, const std::string& where) const {
    const GpgEngine& engine = *engine_;
    GpgmeContext ctx = engine.new_context();
    gpgme_set_offline(ctx.get(), 1);  // --disable-dirmngr: never the network
    if (const gpgme_error_t err = gpgme_set_keylist_mode(ctx.get(), GPGME_KEYLIST_MODE_LOCAL))
        throw KeyListError(where + ": " + gpgme_error_text(err));
    // The server keyring model ignores validity; "always" also spares gpg a trust database check.
    if (trust_ == TrustModel::ServerKeyring) (void)gpgme_set_ctx_flag(ctx.get(), "trust-model", "always");

    auto fail = [&](gpgme_error_t err) -> KeyListError {
        const std::string diagnostics = gpg_diagnostics(ctx.get());
        return KeyListError(where + ": " + gpgme_error_text(err) + (diagnostics.empty() ? "" : " (gpg: " + diagnostics + ")"));
    };
    check_readable(home_ / "trustdb.gpg", stamp.trustdb, where);

    Listing listing;
    GpgOperation op(ctx.get(), engine.timeout());
    gpgme_error_t err = gpgme_op_keylist_start(ctx.get(), nullptr, 0);
    if (!err) err = op.run();
    op.count_failure(GpgRun::ListKeyring, err);
    if (op.end() != GpgOperation::End::Done) throw KeyListError(where + ": " + op.why_ended());
    if (err) throw fail(err);
    for (const GpgmeKey& key : op.take_keys()) {
        listing.keys.push_back(key_facts_from_gpgme(*key, trust_, source_));
        std::vector<bool>& below = listing.below_full.emplace_back();
        for (gpgme_user_id_t uid = key->uids; uid; uid = uid->next)
            below.push_back(trust_ == TrustModel::GnupgTrustDb && !uid->invalid && !uid->revoked && uid_below_full(*uid));
    }
    gpgme_keylist_result_t result = gpgme_op_keylist_result(ctx.get());
    if (result && result->truncated) throw KeyListError(where + ": gpg truncated the key listing");
    listing.diagnostics = gpg_diagnostics(ctx.get(), std::size_t{1} << 20);
    if (diagnostics_report_failure(listing.diagnostics, home_.string())) {
        const std::string& d = listing.diagnostics;
        const std::string shown = d.size() > 1000 ? "..." + d.substr(d.size() - 1000) : d;
        throw KeyListError(where + ": gpg reported an error: " + shown);
    }
    return listing;
}

std::shared_ptr<KeyIndex::Snapshot> KeyIndex::build(const KeyringStamp& stamp) const {
    const std::string where = "listing the keys in GnuPG home " + home_.string();
    check_readable(home_ / "pubring.kbx", stamp.pubring_kbx, where);
    check_readable(home_ / "pubring.gpg", stamp.pubring_gpg, where);

    auto snapshot = std::make_shared<Snapshot>();
    snapshot->stamp = stamp;
    const KeyringFile keyring = read_keyring(home_, stamp, where);
    std::optional<ExpectedKeys> expected;
    if (stamp.expected_keys.exists) {
        const std::filesystem::path file = home_ / kExpectedKeysFile;
        expected = parse_expected_keys(read_whole(file, where), file.string());
        if (!expected->ok()) throw KeyListError(where + ": " + expected->error);
        snapshot->has_expected_keys = true;
    }
    // librnp lists the very bytes whose framing was just read; gpg reads the file again itself.
    Listing listing = lister_ == KeyLister::Gpg
                          ? list_with_gpg(stamp, where)
                          : Listing{rnp_list_keyring(keyring.bytes, keyring.keybox, keyring.path.string(), source_), {}, {}};
    if (lister_ == KeyLister::Rnp) {
        check_readable(home_ / "trustdb.gpg", stamp.trustdb, where);
        mark_disabled_keys(listing.keys, home_, where);  // gpg honours them under every trust model
    }

    std::vector<std::string> listed;
    for (std::size_t k = 0; k < listing.keys.size(); ++k) {
        KeyFacts& facts = listing.keys[k];
        listed.push_back(facts.fingerprint);
        std::vector<std::string> addresses;  // each address once per key
        for (std::size_t u = 0; u < facts.user_ids.size(); ++u) {
            if (facts.user_ids[u].address.empty()) continue;
            std::string address = to_lower_ascii(facts.user_ids[u].address);
            auto& entry = snapshot->by_address[address];
            if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
                addresses.push_back(address);
                entry.keys.push_back(facts);
            }
            const bool below = k < listing.below_full.size() && u < listing.below_full[k].size() && listing.below_full[k][u];
            if (below && std::find(entry.below_full_validity.begin(), entry.below_full_validity.end(), facts.fingerprint) ==
                             entry.below_full_validity.end())
                entry.below_full_validity.push_back(facts.fingerprint);
        }
        snapshot->keys.push_back(std::move(facts));
    }

    // gpg lists nothing, and exits 0, for a keybox whose blobs it cannot parse; a gpg that dies half way
    // lists what it got that far; librnp may skip what it does not understand. Either way the file holds
    // keys the listing lacks.
    std::vector<ExpectedKey> in_file;
    for (const auto& fingerprint : keyring.contents.fingerprints) in_file.push_back({fingerprint, {}});
    if (const auto unlisted = missing_keys(in_file, listed); !unlisted.empty()) {
        const std::string& d = listing.diagnostics;
        const std::string said = d.size() > 300 ? "..." + d.substr(d.size() - 300) : d;
        throw KeyListError(where + ": " + std::string(to_string(lister_)) + " listed " + std::to_string(listed.size()) +
                           " keys but " + keyring.path.string() + " holds " + std::to_string(keyring.contents.fingerprints.size()) +
                           "; not listed: " + joined(unlisted) + (said.empty() ? "" : " (gpg: " + said + ")"));
    }
    if (expected) {
        const std::string file = (home_ / kExpectedKeysFile).string();
        for (const auto& key : missing_keys(expected->keys, listed)) {
            const std::string reason = "key " + key.fingerprint + " is listed in " + file +
                                       " but missing from the keyring (restore it, or run mdcrypt-keys record if it left on purpose)";
            if (key.addresses.empty() && snapshot->every_address.empty()) snapshot->every_address = reason;
            for (const auto& address : key.addresses) snapshot->in_doubt.emplace(address, reason);
        }
    }
    return snapshot;
}

std::shared_ptr<const KeyIndex::Snapshot> KeyIndex::current() {
    // The stamp is taken before any listing: a change made while gpg lists is seen by the next lookup.
    KeyringStamp stamp = stat_keyring(home_);
    {
        std::lock_guard lock(snapshot_mutex_);
        if (snapshot_ && snapshot_->stamp == stamp) return snapshot_;
    }
    std::lock_guard rebuilding(rebuild_mutex_);
    {
        std::lock_guard lock(snapshot_mutex_);  // someone may have rebuilt while we waited
        if (snapshot_ && snapshot_->stamp == stamp) return snapshot_;
    }
    std::shared_ptr<Snapshot> fresh;
    // A keyring rewritten between reading it and gpg's listing makes the two disagree: list again. A
    // failure on unchanged files is final for this lookup and never cached: the next one tries again.
    for (int attempt = 1;; ++attempt) {
        try {
            fresh = build(stamp);
            metrics().keyring_listing(true);
            break;
        } catch (const KeyListError&) {
            metrics().keyring_listing(false);
            const KeyringStamp now = stat_keyring(home_);
            if (attempt == 3 || now == stamp) throw;
            stamp = now;
        }
    }
    guard_against_lost_keys(fresh);
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = fresh;
    return fresh;
}

void KeyIndex::guard_against_lost_keys(const std::shared_ptr<Snapshot>& fresh) {
    // With an expected-keys file the administrator has said what the keyring holds; without one, a
    // keyring that suddenly lists none, or less than half, of the keys this process saw it hold is
    // taken for damage until it is recorded or the milter restarts.
    if (fresh->has_expected_keys || !baseline_) {
        baseline_ = fresh;
        return;
    }
    const std::size_t before = baseline_->keys.size();
    const std::size_t now = fresh->keys.size();
    const bool lost = (now == 0 && before > 0) || (before >= 4 && now * 2 < before);
    if (!lost) {
        baseline_ = fresh;
        return;
    }
    const std::string reason = "the keyring " + home_.string() + " now lists " + std::to_string(now) +
                               " keys where it listed " + std::to_string(before) +
                               " (damaged or replaced?); if the keys were removed on purpose, run mdcrypt-keys record "
                               "or restart the milter";
    for (const auto& [address, entry] : baseline_->by_address)
        if (!entry.keys.empty() && !fresh->by_address.contains(address)) fresh->in_doubt.emplace(address, reason);
}

KeyLookup KeyIndex::lookup(std::string_view address, std::int64_t now) {
    KeyLookup result;
    std::shared_ptr<const Snapshot> snapshot;
    try {
        snapshot = current();
    } catch (const std::exception& e) {
        result.status = KeyLookup::Status::Error;
        result.reason = e.what();
        return result;
    }
    const std::string lower = to_lower_ascii(address);
    const auto doubt = snapshot->in_doubt.find(lower);
    if (!snapshot->every_address.empty() || doubt != snapshot->in_doubt.end()) {
        result.status = KeyLookup::Status::Error;
        result.reason = doubt != snapshot->in_doubt.end() ? doubt->second : snapshot->every_address;
        return result;
    }
    const auto it = snapshot->by_address.find(lower);
    if (it == snapshot->by_address.end()) {
        result.status = KeyLookup::Status::NotFound;
        result.reason = "no key for " + std::string(address) + " in " + source_;
        return result;
    }
    KeyAssessment chosen = choose_key(it->second.keys, address, now);
    if (chosen.key) {
        result.status = KeyLookup::Status::Found;
        result.key = std::move(chosen.key);
        return result;
    }
    result.status = KeyLookup::Status::NotFound;
    result.reason = std::move(chosen.reason);
    if (!it->second.below_full_validity.empty()) {
        result.reason += " (trust model gnupg: the user IDs of";
        for (const auto& fingerprint : it->second.below_full_validity) result.reason += " " + fingerprint;
        result.reason += " are below full validity)";
    }
    return result;
}

std::size_t KeyIndex::usable_key_count(std::int64_t now) {
    const std::shared_ptr<const Snapshot> snapshot = current();
    if (!snapshot->every_address.empty()) throw KeyListError(snapshot->every_address);
    if (!snapshot->in_doubt.empty()) {
        std::string addresses;
        for (const auto& [address, reason] : snapshot->in_doubt) addresses += (addresses.empty() ? "" : ", ") + address;
        throw KeyListError("mail to " + addresses + " is deferred: " + snapshot->in_doubt.begin()->second);
    }
    return static_cast<std::size_t>(std::count_if(snapshot->keys.begin(), snapshot->keys.end(), [&](const KeyFacts& key) {
        return std::any_of(key.user_ids.begin(), key.user_ids.end(), [&](const UserIdFacts& uid) {
            return !uid.address.empty() && assess_key(key, uid.address, now).key.has_value();
        });
    }));
}

std::vector<KeyFacts> KeyIndex::listed_keys() { return current()->keys; }

}  // namespace mdcrypt
