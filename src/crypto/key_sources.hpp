// The key sources of the [keys] table on the real keyring and key files: the KeyLookupFn the milter
// and the filter use, and the trace --explain prints.
//
//   keyring  the GnuPG home's keys (KeyIndex: no gpg per lookup, one listing per keyring change)
//   file     the file `file_template` names for the address (KeyFileCache)
//   wkd      <wkd_root>/<domain>/hu/<z-base-32 SHA-1 of the local part> (KeyFileCache)
//   ldap     the [ldap] directory's entry for the address (LdapKeySource; its data checked by KeyFileCache)
//
// Sources are asked in the configured order; see core/key_chain.hpp for how their answers combine
// (first usable key wins; a failing source before it defers). Addresses come in as looked up, i.e.
// without a subaddress (Policy::lookup_address). A local part or domain that cannot be a path
// component ("..", "a/b") has no key file: NotFound, nothing is opened.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "core/key_chain.hpp"
#include "core/processor.hpp"
#include "crypto/key_file_cache.hpp"
#include "crypto/key_index.hpp"
#include "crypto/ldap_key_source.hpp"

namespace mdcrypt {

class KeySources {
public:
    // Throws GpgmeInitError when the GnuPG home or gpg is unusable. Lists nothing yet.
    // `ldap_notice` hears when the ldap source's directory stops and starts answering (see LdapNotice).
    explicit KeySources(const GnupgSettings& gnupg, LdapNotice ldap_notice = {});
    KeySources(const KeySources&) = delete;
    KeySources& operator=(const KeySources&) = delete;

    KeyLookup lookup(std::string_view address, std::int64_t now) const { return chain_.lookup(address, now); }
    KeyTrace trace(std::string_view address, std::int64_t now) const { return chain_.trace(address, now); }

    // One line naming the sources in order, e.g. "keyring /var/lib/...; file /var/vmail/%d/%l/...".
    std::string describe() const;

    KeyIndex& keyring() { return *keyring_; }  // built whatever the sources (--check-config counts its keys)
    KeyFileCache& files() { return *files_; }
    LdapKeySource* ldap() { return ldap_.get(); }  // null unless sources lists "ldap"

private:
    GnupgSettings settings_;
    std::unique_ptr<KeyIndex> keyring_;
    std::unique_ptr<KeyFileCache> files_;
    std::unique_ptr<LdapKeySource> ldap_;
    KeySourceChain chain_;
};

// The core's KeyLookupFn over shared sources.
KeyLookupFn key_lookup_fn(std::shared_ptr<const KeySources> sources);

}  // namespace mdcrypt
