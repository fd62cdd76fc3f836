#include "crypto/rnp_key_listing.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <optional>

#include "core/encryptor.hpp"
#include "core/trustdb.hpp"
#include "core/text.hpp"
#include "crypto/key_index.hpp"

namespace mdcrypt {

namespace {

bool flag(rnp_result_t (*query)(rnp_key_handle_t, bool*), rnp_key_handle_t key) {
    bool value = false;
    return query(key, &value) == RNP_SUCCESS && value;
}

bool uid_flag(rnp_result_t (*query)(rnp_uid_handle_t, bool*), rnp_uid_handle_t uid) {
    bool value = false;
    return query(uid, &value) == RNP_SUCCESS && value;
}

// The absolute expiry gpg reports: creation plus the self-signature's validity period; 0 = never.
std::int64_t expiry_of(rnp_key_handle_t key) {
    std::uint32_t created = 0, period = 0;
    (void)rnp_key_get_creation(key, &created);
    if (rnp_key_get_expiration(key, &period) != RNP_SUCCESS || period == 0) return 0;
    return static_cast<std::int64_t>(created) + period;
}

// gpg's per-key flags: revoked; expired (only when it has a date); else invalid when the key never had a
// valid self-signature or binding. Not rnp_key_is_valid: that is judged now (an expired key is not
// valid, nor are the subkeys of an expired primary key), while the core judges expiry at the time it is
// given. rnp_key_valid_till64 is 0 only for a key that was never valid.
struct Status {
    bool revoked = false;
    bool invalid = false;
    std::int64_t expires = 0;
};
Status status_of(rnp_key_handle_t key) {
    Status s;
    s.revoked = flag(rnp_key_is_revoked, key);
    s.expires = expiry_of(key);
    std::uint64_t till = 0;
    const bool never_valid = rnp_key_valid_till64(key, &till) != RNP_SUCCESS || till == 0;
    s.invalid = (never_valid && !s.revoked) || (flag(rnp_key_is_expired, key) && s.expires == 0);
    return s;
}

std::string fingerprint_of(rnp_key_handle_t key) {
    char* text = nullptr;
    if (rnp_key_get_fprint(key, &text) != RNP_SUCCESS || !text) return {};
    RnpBuffer owned(text);
    return owned.get();
}

bool is_email_char(unsigned char c, bool after_at) {
    if (c & 0x80) return true;  // GPGME only checks ASCII
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.') return true;
    return !after_at && std::strchr("!#$%&'*+/=?^`{|}~", c) != nullptr && c != '\0';
}

bool plausible_address(std::string_view s) {
    if (std::count(s.begin(), s.end(), '@') != 1 || s.front() == '@' || s.back() == '@' || s.back() == '.') return false;
    const auto at = s.find('@');
    if (s.substr(at).find("..") != std::string_view::npos) return false;
    return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; });
}

bool valid_mailbox(std::string_view s) {
    if (s.empty()) return false;
    bool after_at = false;
    for (const char ch : s) {
        if (ch == '@') after_at = true;
        else if (!is_email_char(static_cast<unsigned char>(ch), after_at)) return false;
    }
    return plausible_address(s) && s.find("..") == std::string_view::npos;
}

// Runs `load` on a fresh ffi object and lists its primary keys; `what` prefixes errors.
template <typename Load, typename Failure>
std::vector<KeyFacts> list_loaded(const std::string& what, const std::string& source, Load load, Failure failure) {
    RnpFfi ffi;
    try {
        ffi = new_rnp_ffi();
    } catch (const EncryptError& e) {
        throw KeyListError(what + ": " + e.what());
    }
    rnp_result_t loaded;
    try {
        loaded = load(ffi.get());
    } catch (const EncryptError& e) {
        throw KeyListError(what + ": " + e.what());
    }
    if (loaded) throw KeyListError(failure(loaded));
    rnp_identifier_iterator_t raw_it = nullptr;
    if (const rnp_result_t r = rnp_identifier_iterator_create(ffi.get(), &raw_it, "fingerprint"))
        throw KeyListError(what + ": " + rnp_error_text("rnp_identifier_iterator_create", r));
    const RnpIdentifierIterator it(raw_it);
    std::vector<KeyFacts> keys;
    for (;;) {
        const char* fingerprint = nullptr;
        if (const rnp_result_t r = rnp_identifier_iterator_next(it.get(), &fingerprint))
            throw KeyListError(what + ": " + rnp_error_text("rnp_identifier_iterator_next", r));
        if (!fingerprint) break;
        rnp_key_handle_t raw = nullptr;
        if (const rnp_result_t r = rnp_locate_key(ffi.get(), "fingerprint", fingerprint, &raw))
            throw KeyListError(what + ": " + rnp_error_text("rnp_locate_key", r));
        const RnpKey key(raw);
        // Subkeys are listed with their primary key; a subkey without one is no key gpg lists either.
        if (!key || !flag(rnp_key_is_primary, key.get())) continue;
        keys.push_back(key_facts_from_rnp(key.get(), source));
    }
    return keys;
}

}  // namespace

std::string mailbox_from_user_id(std::string_view user_id) {
    std::string address;
    if (const auto open = user_id.find('<'); open != std::string_view::npos) {
        const auto close = user_id.find('>', open + 1);
        if (close == std::string_view::npos || close == open + 1) return {};
        const std::string_view inside = user_id.substr(open + 1, close - open - 1);
        if (!plausible_address(inside)) return {};
        address = inside;
    } else if (valid_mailbox(user_id)) {
        address = user_id;
    }
    return to_lower_ascii(address);
}

KeyFacts key_facts_from_rnp(rnp_key_handle_t primary, const std::string& source) {
    KeyFacts facts;
    facts.fingerprint = fingerprint_of(primary);
    facts.source = source;
    const Status status = status_of(primary);
    facts.revoked = status.revoked;
    facts.invalid = status.invalid;
    facts.expires = status.expires;

    std::size_t uids = 0;
    (void)rnp_key_get_uid_count(primary, &uids);
    for (std::size_t i = 0; i < uids; ++i) {
        UserIdFacts u;
        rnp_uid_handle_t raw = nullptr;
        if (rnp_key_get_uid_handle_at(primary, i, &raw) != RNP_SUCCESS || !raw) {
            u.invalid = true;  // cannot be read: cannot be vouched for
            facts.user_ids.push_back(std::move(u));
            continue;
        }
        const RnpUid uid(raw);
        std::uint32_t type = 0;
        char* text = nullptr;
        if (rnp_uid_get_type(uid.get(), &type) == RNP_SUCCESS && type == RNP_USER_ID &&
            rnp_key_get_uid_at(primary, i, &text) == RNP_SUCCESS && text) {
            const RnpBuffer owned(text);
            u.address = mailbox_from_user_id(owned.get());
        }
        // gpg: the user IDs of a revoked key are revoked too.
        u.revoked = uid_flag(rnp_uid_is_revoked, uid.get()) || status.revoked;
        u.invalid = !uid_flag(rnp_uid_is_valid, uid.get()) && !u.revoked;
        facts.user_ids.push_back(std::move(u));
    }

    SubkeyFacts own;
    (void)rnp_key_allows_usage(primary, "encrypt", &own.can_encrypt);
    own.revoked = status.revoked;
    own.invalid = status.invalid;
    own.expires = status.expires;
    facts.subkeys.push_back(own);
    std::size_t count = 0;
    (void)rnp_key_get_subkey_count(primary, &count);
    for (std::size_t i = 0; i < count; ++i) {
        rnp_key_handle_t raw = nullptr;
        SubkeyFacts s;
        if (rnp_key_get_subkey_at(primary, i, &raw) != RNP_SUCCESS || !raw) {
            s.invalid = true;
            facts.subkeys.push_back(s);
            continue;
        }
        const RnpKey sub(raw);
        (void)rnp_key_allows_usage(sub.get(), "encrypt", &s.can_encrypt);
        const Status sub_status = status_of(sub.get());
        // gpg: the subkeys of a revoked primary key are revoked too.
        s.revoked = sub_status.revoked || status.revoked;
        s.invalid = sub_status.invalid && !s.revoked;
        s.expires = sub_status.expires;
        facts.subkeys.push_back(s);
    }
    return facts;
}

std::vector<KeyFacts> rnp_list_keyring(std::string_view bytes, bool keybox, const std::string& file, const std::string& source) {
    const std::string what = "listing the keys of " + file + " with librnp";
    if (bytes.empty()) return {};
    return list_loaded(
        what, source,
        [&](rnp_ffi_t ffi) {
            const RnpInput input = rnp_memory_input(bytes);
            return rnp_load_keys(ffi, keybox ? "KBX" : "GPG", input.get(), RNP_LOAD_SAVE_PUBLIC_KEYS);
        },
        [&](rnp_result_t r) { return what + ": " + rnp_keyring_load_error(file, bytes, keybox, r); });
}

std::vector<KeyFacts> rnp_list_key_data(std::string_view bytes, const std::string& where, const std::string& source) {
    const std::string what = where + ": listing its keys with librnp";
    return list_loaded(
        what, source,
        [&](rnp_ffi_t ffi) {
            const RnpInput input = rnp_memory_input(bytes);
            return rnp_import_keys(ffi, input.get(), RNP_LOAD_SAVE_PUBLIC_KEYS, nullptr);
        },
        [&](rnp_result_t r) {
            return what + ": " + rnp_error_text("librnp cannot load it", r) +
                   " (librnp's own words are on stderr: the daemon logs them as librnp/stderr)";
        });
}

void mark_disabled_keys(std::vector<KeyFacts>& keys, const std::filesystem::path& home, const std::string& where) {
    const std::filesystem::path file = home / "trustdb.gpg";
    const std::optional<std::string> bytes = read_home_file(file, where, std::size_t{64} << 20);
    if (!bytes) return;
    const TrustDbFlags flags = read_trustdb_disabled(*bytes);
    if (!flags.ok()) throw KeyListError(where + ": " + file.string() + " is damaged: " + flags.error);
    for (KeyFacts& key : keys)
        if (std::any_of(flags.disabled.begin(), flags.disabled.end(), [&](const std::string& f) { return iequals(f, key.fingerprint); }))
            key.disabled = true;
}

}  // namespace mdcrypt
