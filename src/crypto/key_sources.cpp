#include "crypto/key_sources.hpp"

#include <algorithm>

#include "core/address.hpp"
#include "core/key_paths.hpp"
#include "crypto/encryptor_choice.hpp"

namespace mdcrypt {

namespace {

KeyLookup not_found(std::string reason) { return KeyLookup{KeyLookup::Status::NotFound, std::nullopt, std::move(reason)}; }

std::vector<NamedKeySource> make_sources(const GnupgSettings& settings, KeyIndex& keyring, KeyFileCache& files,
                                         LdapKeySource* ldap) {
    std::vector<NamedKeySource> sources;
    for (const KeySource source : settings.keys.sources) {
        const std::string name(to_string(source));
        switch (source) {
            case KeySource::Keyring:
                sources.push_back({name, [&keyring](std::string_view address, std::int64_t now) {
                                       return keyring.lookup(address, now);
                                   }});
                break;
            case KeySource::File:
                sources.push_back({name, [&files, path_template = settings.keys.file_template](
                                             std::string_view address, std::int64_t now) {
                                       const auto parsed = parse_address(address);
                                       if (!parsed) return not_found("file: not an address with a domain");
                                       const KeyPath path = expand_key_path(path_template, parsed->local, parsed->domain);
                                       if (!path.path) return not_found("file for " + parsed->full() + ": " + path.error);
                                       return files.lookup(*path.path, "file", address, now);
                                   }});
                break;
            case KeySource::Wkd:
                sources.push_back({name, [&files, root = settings.keys.wkd_root](std::string_view address, std::int64_t now) {
                                       const auto parsed = parse_address(address);
                                       if (!parsed) return not_found("wkd: not an address with a domain");
                                       const KeyPath path = wkd_key_path(root, parsed->local, parsed->domain);
                                       if (!path.path) return not_found("wkd for " + parsed->full() + ": " + path.error);
                                       return files.lookup(*path.path, "wkd", address, now);
                                   }});
                break;
            case KeySource::Ldap:
                sources.push_back({name, [ldap](std::string_view address, std::int64_t now) { return ldap->lookup(address, now); }});
                break;
        }
    }
    return sources;
}

}  // namespace

KeySources::KeySources(const GnupgSettings& gnupg, LdapNotice ldap_notice)
    : settings_(gnupg),
      keyring_(std::make_unique<KeyIndex>(gnupg.home, gnupg.trust_model, gnupg.gpg_program,
                                          std::chrono::seconds(gnupg.timeout_seconds), key_lister_for(gnupg))),
      files_(std::make_unique<KeyFileCache>(gnupg.home, gnupg.gpg_program,
                                            KeyFileCache::Limits{.gpg_timeout = std::chrono::seconds(gnupg.timeout_seconds)},
                                            key_lister_for(gnupg))),
      ldap_(std::find(gnupg.keys.sources.begin(), gnupg.keys.sources.end(), KeySource::Ldap) != gnupg.keys.sources.end()
                ? std::make_unique<LdapKeySource>(gnupg.keys.ldap, *files_, std::move(ldap_notice))
                : nullptr),
      chain_(make_sources(settings_, *keyring_, *files_, ldap_.get())) {}

std::string KeySources::describe() const {
    std::string out;
    for (const KeySource source : settings_.keys.sources) {
        if (!out.empty()) out += "; ";
        switch (source) {
            case KeySource::Keyring: out += "keyring " + settings_.home.string(); break;
            case KeySource::File: out += "file " + settings_.keys.file_template; break;
            case KeySource::Wkd: out += "wkd " + settings_.keys.wkd_root.string() + "/<domain>/hu/<hash>"; break;
            case KeySource::Ldap:
                out += "ldap";
                for (const std::string& uri : settings_.keys.ldap.uris) out += " " + uri;
                out += " " + settings_.keys.ldap.base + " " + settings_.keys.ldap.filter;
                break;
        }
    }
    // Which program lists the keys (it is the same for every source).
    out += " (keys listed by " + std::string(to_string(keyring_->lister())) + ")";
    return out;
}

KeyLookupFn key_lookup_fn(std::shared_ptr<const KeySources> sources) {
    return [sources = std::move(sources)](std::string_view address, std::int64_t now) { return sources->lookup(address, now); };
}

}  // namespace mdcrypt
