#include "crypto/ldap_key_source.hpp"

#include <iterator>

#include "core/address.hpp"
#include "core/text.hpp"

namespace mdcrypt {

LdapKeySource::LdapKeySource(const LdapSettings& settings, KeyFileCache& files, LdapNotice notice)
    : directory_(settings), files_(files), ttl_(settings.cache_seconds), notice_(std::move(notice)) {}

KeyLookup LdapKeySource::lookup(std::string_view address, std::int64_t now) {
    const auto parsed = parse_address(address);
    if (!parsed) return KeyLookup{KeyLookup::Status::NotFound, std::nullopt, "ldap: not an address with a domain"};
    const std::string name = to_lower_ascii(parsed->local) + "@" + parsed->domain;
    const auto clock_now = std::chrono::steady_clock::now();

    LdapAnswer answer;
    bool cached = false;
    if (ttl_.count() > 0) {
        std::lock_guard lock(mutex_);
        if (auto it = answers_.find(name); it != answers_.end() && it->second.until > clock_now) {
            answer = it->second.answer;
            cached = true;
        }
    }
    if (!cached) {
        answer = directory_.search(parsed->local, parsed->domain);
        const bool failed = answer.status == LdapAnswer::Status::Error;
        bool changed = false;
        {
            std::lock_guard lock(mutex_);
            changed = failing_ != failed;
            failing_ = failed;
        }
        if (changed && notice_)
            notice_(failed ? "ldap directory unusable, recipients whose lookup needs it are deferred: " + answer.reason
                           : std::string("ldap directory answers again"));
        if (failed)
            return KeyLookup{KeyLookup::Status::Error, std::nullopt, "ldap lookup of " + name + ": " + answer.reason};
        if (ttl_.count() > 0) {
            std::lock_guard lock(mutex_);
            if (answers_.size() >= kMaxCachedAnswers) {
                for (auto it = answers_.begin(); it != answers_.end();)
                    it = it->second.until <= clock_now ? answers_.erase(it) : std::next(it);
                if (answers_.size() >= kMaxCachedAnswers) answers_.clear();  // bounded memory before hit rate
            }
            answers_[name] = Answer{clock_now + ttl_, answer};
        }
    }
    if (answer.status == LdapAnswer::Status::NoEntry)
        return KeyLookup{KeyLookup::Status::NotFound, std::nullopt, "ldap " + answer.reason};
    return files_.lookup_data("ldap", name, answer.data, address, now);
}

}  // namespace mdcrypt
