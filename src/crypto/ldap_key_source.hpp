// The ldap key source: the directory's key data for an address (LdapDirectory), kept for
// cache_seconds, checked like a key file (KeyFileCache::lookup_data: the user ID must be the address,
// a valid unexpired encryption subkey, not revoked; nothing is imported).
//
// Cached: answers, both a key's data and "no entry" (negative caching), for cache_seconds from the
// query, so a burst of mail to one user makes one query per period; the gpg listing of the data is
// cached by KeyFileCache until the data changes. Never cached: failures (no server usable, a search
// error, more entries than size_limit): the lookup is an Error, which defers the recipient; the next
// lookup asks the directory again. Concurrent first lookups of one address may query twice.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/decision.hpp"
#include "crypto/key_file_cache.hpp"
#include "crypto/ldap_directory.hpp"

namespace mdcrypt {

// Told when the directory stops answering (with the reason naming each server tried) and when it
// answers again: once per failure period, where the lookups' own reasons come with every message.
using LdapNotice = std::function<void(std::string_view text)>;

class LdapKeySource {
public:
    static constexpr std::size_t kMaxCachedAnswers = 16384;

    LdapKeySource(const LdapSettings& settings, KeyFileCache& files, LdapNotice notice = {});

    // Thread-safe.
    KeyLookup lookup(std::string_view address, std::int64_t now);

    LdapDirectory& directory() { return directory_; }

private:
    struct Answer {
        std::chrono::steady_clock::time_point until;
        LdapAnswer answer;  // Found or NoEntry
    };

    LdapDirectory directory_;
    KeyFileCache& files_;
    std::chrono::seconds ttl_;
    LdapNotice notice_;
    std::mutex mutex_;  // guards answers_ and failing_
    bool failing_ = false;
    std::map<std::string, Answer> answers_;  // by lower-cased address
};

}  // namespace mdcrypt
