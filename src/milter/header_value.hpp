// Header values between the milter protocol and the core's raw form.
//
// The core keeps a value exactly as it follows the colon on the wire: leading white space included,
// continuation lines joined with CRLF (core/header.hpp). MTAs hand values to milters differently:
// with SMFIP_HDR_LEADSPC negotiated the leading space is kept, otherwise the MTA strips exactly one
// leading space; continuation lines are joined with a bare LF (Postfix and Sendmail store headers
// with LF internally). Values sent back follow the same convention in the other direction.
#pragma once

#include <string>
#include <string_view>

namespace mdcrypt::milter {

// A value as received from the MTA -> the core's raw form (leading space restored, CRLF folding).
std::string value_from_mta(std::string_view value, bool leading_space_negotiated);

// The core's raw form -> what the MTA expects in smfi_addheader/smfi_chgheader: LF folding, and
// without HDR_LEADSPC one leading space less (the MTA adds it back when it writes "Name: value").
std::string value_to_mta(std::string_view raw_value, bool leading_space_negotiated);

}  // namespace mdcrypt::milter
