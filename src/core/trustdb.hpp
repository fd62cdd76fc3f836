// The keys gpg's trust database marks disabled (`gpg --edit-key KEY disable`). gpg honours that flag
// under every trust model, "always" too, so the server-keyring model's gpg listing refuses such keys;
// librnp does not read trustdb.gpg, and this is what lets its listing refuse them as well.
//
// Format (GnuPG tdbio.c): 40-byte records; record 0 is the version record (type 1, "gpg"); a trust
// record (type 12) holds a primary key's 20-byte fingerprint at byte 2 and its ownertrust at byte 22,
// whose bit 0x80 is "disabled". Other record types are skipped. Pure: the caller reads the file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mdcrypt {

struct TrustDbFlags {
    std::vector<std::string> disabled;  // primary key fingerprints, upper-case hex (40 digits)
    std::string error;                  // set when the file is not a trust database; names the offset
    bool ok() const { return error.empty(); }
};

TrustDbFlags read_trustdb_disabled(std::string_view bytes);

}  // namespace mdcrypt
