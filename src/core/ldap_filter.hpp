// LDAP search filters for a key lookup: the configured template with the address put in, escaped as an
// RFC 4515 assertion value so that an address cannot change the filter ("*)(uid=*" finds nothing).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mdcrypt {

// RFC 4515 section 3: '*', '(', ')', '\' and NUL become \2a \28 \29 \5c \00. Control characters, DEL
// and every non-ASCII byte are escaped as well (\XX, allowed for any octet), so the filter is
// plain printable ASCII whatever the address holds.
std::string ldap_escape_filter_value(std::string_view value);

// Why a filter template is unusable, or nullopt. A template is a parenthesized filter with %s (the
// whole address), %l (local part), %d (domain) or %% (a percent sign), at least one of %s/%l.
std::optional<std::string> check_ldap_filter_template(std::string_view filter_template);

// The filter for an address ("local@domain", as looked up): the template with each placeholder
// replaced by the escaped value. The template must have passed check_ldap_filter_template.
std::string expand_ldap_filter(std::string_view filter_template, std::string_view local, std::string_view domain);

}  // namespace mdcrypt
