// What the RFC 3156 rewrite does besides wrapping the entity, and which header fields are its own.
// Shared by the rewrite (pgp_mime) and its header protection (header_protection).
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "core/header.hpp"
#include "core/text.hpp"

namespace mdcrypt {

// A value; the processor builds it from the recipients' policy.
struct RewriteOptions {
    // RFC 9788 header protection with the hcp_baseline confidentiality policy restricted to Subject:
    // the protected fields are copied into the encrypted entity, which gets hp="cipher" (and, for
    // readers of the older scheme such as Thunderbird, protected-headers="v1"), and the outer Subject
    // becomes "[...]". Only where the entity we encrypt is the Cryptographic Payload
    // (see applies_header_protection).
    bool header_protection = true;
    // Names of header fields deleted from a message that gets encrypted (e.g. DKIM-Signature, whose
    // body hash no longer matches). Compared case-insensitively; Content-* and MIME-Version are the
    // rewrite's own and are never deleted by this list. A deleted field is not copied inside either.
    std::vector<std::string> strip_fields;
};

// RFC 9787 calls Content-* and MIME-Version "structural": they describe the MIME part, not the
// message, and header protection leaves them alone.
inline bool is_structural_field(std::string_view name) {
    return is_content_field(name) || iequals(name, "MIME-Version");
}

// Deleted from the outer header by strip_fields (never a structural field: those are the rewrite's own).
inline bool is_stripped_field(const RewriteOptions& options, std::string_view name) {
    if (is_structural_field(name)) return false;
    return std::any_of(options.strip_fields.begin(), options.strip_fields.end(),
                       [&](const std::string& s) { return iequals(s, name); });
}

}  // namespace mdcrypt
