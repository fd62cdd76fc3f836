// Listing public keys with librnp instead of gpg: the same KeyFacts key_facts_from_gpgme gives, for the
// GnuPG home's keyring file and for key data from files, WKD and LDAP. With it, an [engine] backend =
// "rnp" deployment looks keys up without starting gpg (KeyLister::Rnp). librnp cannot read gpg's trust
// database: this lister serves the server-keyring trust model only; the database's "disabled" flags,
// which gpg honours under that model too, are read by our own reader (core/trustdb.hpp).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/keys.hpp"
#include "crypto/rnp_handles.hpp"

namespace mdcrypt {

// The e-mail address GPGME derives from a user ID (its _gpgme_mailbox_from_userid): the text between
// '<' and '>' when that has exactly one '@', a local part and a domain, no space or control character,
// no ".." after the '@' and no trailing '.'; else the whole user ID when it is such an address itself;
// else empty. ASCII lower-cased, as GPGME returns it. Pure.
std::string mailbox_from_user_id(std::string_view user_id);

// The facts of one primary key loaded in librnp, mapped as key_facts_from_gpgme maps gpg's listing
// (server-keyring trust): primary key first among the subkeys, expiries as absolute times.
KeyFacts key_facts_from_rnp(rnp_key_handle_t primary, const std::string& source);

// Every primary key of a keyring file's bytes (`keybox`: pubring.kbx, else pubring.gpg), in the order
// librnp holds them. Throws KeyListError naming `file` when librnp cannot load it.
std::vector<KeyFacts> rnp_list_keyring(std::string_view bytes, bool keybox, const std::string& file, const std::string& source);

// Every primary key of key data (armored or binary transferable public keys). Throws KeyListError
// naming `where` when librnp cannot read it.
std::vector<KeyFacts> rnp_list_key_data(std::string_view bytes, const std::string& where, const std::string& source);

// Marks the keys `home`'s trustdb.gpg calls disabled, as gpg's listing (even with --trust-model always)
// does. No trustdb.gpg: none. Throws KeyListError naming `where` and the file when it cannot be read or
// is damaged: what is disabled cannot then be known.
void mark_disabled_keys(std::vector<KeyFacts>& keys, const std::filesystem::path& home, const std::string& where);

}  // namespace mdcrypt
