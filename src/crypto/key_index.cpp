#include "crypto/key_index.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "core/header.hpp"

namespace mdcrypt {

struct KeyIndex::Snapshot {
    KeyringStamp stamp;
    std::vector<KeyFacts> keys;
    struct Entry {
        std::vector<KeyFacts> keys;
        std::vector<std::string> below_full_validity;  // fingerprints rejected by the trust database
    };
    std::unordered_map<std::string, Entry> by_address;  // lower-cased address
};

namespace {

FileStamp stat_file(const std::filesystem::path& path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) {
        FileStamp missing;
        if (errno != ENOENT) missing.error = errno;
        return missing;
    }
    return FileStamp{0, true, st.st_dev, st.st_ino, st.st_size,
                     static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

// gpg would quietly list nothing from a keyring it cannot open: check first, and say why.
void check_readable(const std::filesystem::path& file, const FileStamp& stamp, const std::string& where) {
    if (stamp.error) throw KeyListError(where + ": cannot stat " + file.string() + ": " + std::strerror(stamp.error));
    if (!stamp.exists) return;
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw KeyListError(where + ": cannot read " + file.string() + ": " + std::strerror(errno));
    ::close(fd);
}

bool uid_below_full(const _gpgme_user_id& uid) { return uid.validity < GPGME_VALIDITY_FULL; }

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
    return KeyringStamp{stat_file(home / "pubring.kbx"), stat_file(home / "pubring.gpg"), stat_file(home / "trustdb.gpg")};
}

KeyIndex::KeyIndex(std::filesystem::path home, TrustModel trust, std::filesystem::path gpg_program)
    : engine_(std::move(home), std::move(gpg_program)), trust_(trust), source_("keyring " + engine_.home().string()) {}

std::shared_ptr<const KeyIndex::Snapshot> KeyIndex::build(const KeyringStamp& stamp) const {
    const std::string where = "listing the keys in GnuPG home " + engine_.home().string();
    GpgmeContext ctx = engine_.new_context();
    gpgme_set_offline(ctx.get(), 1);  // --disable-dirmngr: never the network
    if (const gpgme_error_t err = gpgme_set_keylist_mode(ctx.get(), GPGME_KEYLIST_MODE_LOCAL))
        throw KeyListError(where + ": " + gpgme_error_text(err));
    // The server keyring model ignores validity; "always" also spares gpg a trust database check.
    if (trust_ == TrustModel::ServerKeyring) (void)gpgme_set_ctx_flag(ctx.get(), "trust-model", "always");

    auto fail = [&](gpgme_error_t err) -> KeyListError {
        const std::string diagnostics = gpg_diagnostics(ctx.get());
        return KeyListError(where + ": " + gpgme_error_text(err) + (diagnostics.empty() ? "" : " (gpg: " + diagnostics + ")"));
    };

    check_readable(engine_.home() / "pubring.kbx", stamp.pubring_kbx, where);
    check_readable(engine_.home() / "pubring.gpg", stamp.pubring_gpg, where);
    check_readable(engine_.home() / "trustdb.gpg", stamp.trustdb, where);

    auto snapshot = std::make_shared<Snapshot>();
    snapshot->stamp = stamp;
    if (const gpgme_error_t err = gpgme_op_keylist_start(ctx.get(), nullptr, 0)) throw fail(err);
    for (;;) {
        gpgme_key_t raw = nullptr;
        const gpgme_error_t err = gpgme_op_keylist_next(ctx.get(), &raw);
        if (gpgme_err_code(err) == GPG_ERR_EOF) break;
        if (err) throw fail(err);
        GpgmeKey key(raw);
        KeyFacts facts = key_facts_from_gpgme(*key, trust_, source_);

        std::vector<std::string> addresses;  // each address once per key
        for (gpgme_user_id_t uid = key->uids; uid; uid = uid->next) {
            if (!uid->address || !*uid->address) continue;
            std::string address = to_lower_ascii(uid->address);
            auto& entry = snapshot->by_address[address];
            if (std::find(addresses.begin(), addresses.end(), address) == addresses.end()) {
                addresses.push_back(address);
                entry.keys.push_back(facts);
            }
            if (trust_ == TrustModel::GnupgTrustDb && !uid->invalid && !uid->revoked && uid_below_full(*uid) &&
                std::find(entry.below_full_validity.begin(), entry.below_full_validity.end(), facts.fingerprint) ==
                    entry.below_full_validity.end())
                entry.below_full_validity.push_back(facts.fingerprint);
        }
        snapshot->keys.push_back(std::move(facts));
    }
    gpgme_keylist_result_t result = gpgme_op_keylist_result(ctx.get());
    if (result && result->truncated) throw KeyListError(where + ": gpg truncated the key listing");
    const std::string diagnostics = gpg_diagnostics(ctx.get(), std::size_t{1} << 20);
    if (diagnostics_report_failure(diagnostics, engine_.home().string())) {
        const std::string shown = diagnostics.size() > 1000 ? "..." + diagnostics.substr(diagnostics.size() - 1000) : diagnostics;
        throw KeyListError(where + ": gpg reported an error: " + shown);
    }
    return snapshot;
}

std::shared_ptr<const KeyIndex::Snapshot> KeyIndex::current() {
    // The stamp is taken before any listing: a change made while gpg lists is seen by the next lookup.
    const KeyringStamp stamp = stat_keyring(engine_.home());
    {
        std::lock_guard lock(snapshot_mutex_);
        if (snapshot_ && snapshot_->stamp == stamp) return snapshot_;
    }
    std::lock_guard rebuilding(rebuild_mutex_);
    {
        std::lock_guard lock(snapshot_mutex_);  // someone may have rebuilt while we waited
        if (snapshot_ && snapshot_->stamp == stamp) return snapshot_;
    }
    std::shared_ptr<const Snapshot> fresh = build(stamp);
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = fresh;
    return fresh;
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
    const auto it = snapshot->by_address.find(to_lower_ascii(address));
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
    return static_cast<std::size_t>(std::count_if(snapshot->keys.begin(), snapshot->keys.end(), [&](const KeyFacts& key) {
        return std::any_of(key.user_ids.begin(), key.user_ids.end(), [&](const UserIdFacts& uid) {
            return !uid.address.empty() && assess_key(key, uid.address, now).key.has_value();
        });
    }));
}

}  // namespace mdcrypt
