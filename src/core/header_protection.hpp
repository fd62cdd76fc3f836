// RFC 9788 header protection of the entity the RFC 3156 rewrite (pgp_mime) encrypts: whether it
// applies, the fields injected into the entity with their HP-Outer records, the hp="cipher" marker on
// its Content-Type, and the obscured outer Subject. Header policy hcp_baseline restricted to Subject.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/edits.hpp"
#include "core/header.hpp"
#include "core/rewrite_options.hpp"

namespace mdcrypt {

// Whether the rewrite of this header applies RFC 9788 header protection: asked for, and every
// Content-Type field parses (content_type.hpp) to a media type that is not a cryptographic layer
// (multipart/signed, multipart/encrypted, application/pkcs7-mime) and has no hp parameter yet in any
// form. Under a layer the Cryptographic Payload is a part inside it that we must not change (a signed
// part), so hp="cipher" would mark the wrong part; a marker a client cannot read would leave the user
// with only "[...]". No Content-Type (the RFC 2045 default) is fine.
bool applies_header_protection(const std::vector<HeaderField>& fields, const RewriteOptions& options);

// The start of the protected entity's header, CRLF: every injected field (not Content-*, MIME-Version,
// HP-Outer or stripped; verbatim and in order), then one "HP-Outer: Name: value" per injected field with
// the value the outer header shows after the rewrite. Only for a header applies_header_protection accepts.
std::string protected_header_fields(const std::vector<HeaderField>& fields, const RewriteOptions& options);

// A Content-Type value with `; hp="cipher"; protected-headers="v1"` appended, everything before them
// kept byte for byte; a line that would pass 78 characters is folded before a parameter, and a
// protected-headers parameter the sender already wrote is kept and not added again. `field_name` is
// the name the value will be written under (its length counts on the first line).
std::string with_hp_parameters(std::string_view field_name, std::string_view raw_value);

// The edits hcp_baseline makes outside: every Subject becomes " [...]" (none is added when there is
// none, and a stripped Subject is left to its deletion). Empty when header protection does not apply.
std::vector<HeaderEdit> obscured_subject_edits(const std::vector<HeaderField>& fields, const RewriteOptions& options);

}  // namespace mdcrypt
