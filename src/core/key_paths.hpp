// Where a recipient's key files are: the subaddress rule, the per-user path template (%d, %l, %u) and
// the local Web Key Directory layout. Pure: no file is touched here.
//
// Paths are built from envelope addresses, which a sender chooses. So every expansion is checked: a
// local part or domain that is empty, "." or "..", or holds a '/', gives no path at all, and an
// expanded path must be absolute without "." or ".." components. "../../etc@example.org" can never
// name a file outside the template's directory.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace mdcrypt {

// The local part without its subaddress: what comes before the first of `delimiters` (each character
// is a delimiter, as in Postfix's recipient_delimiter), "alice+lists" -> "alice". Unchanged when
// `delimiters` is empty, when no delimiter occurs, when the local part starts with one ("+alice"), or
// for "postmaster" and "MAILER-DAEMON", which Postfix never splits either.
std::string strip_subaddress(std::string_view local_part, std::string_view delimiters);

// A path, or why there is none.
struct KeyPath {
    std::optional<std::filesystem::path> path;
    std::string error;  // when !path
};

// Whether a path template is usable: only %d, %l, %u and %% as % sequences, no control characters,
// absolute, and no "." or ".." components of its own. nullopt when it is; else what is wrong.
std::optional<std::string> check_key_path_template(std::string_view path_template);

// The template with %d = the domain, %l = the local part (both ASCII lower-cased), %u = "%l@%d",
// %% = "%". Pass the local part with its subaddress already removed. The result is checked as
// described above; the error names the address, never the template's expansion.
KeyPath expand_key_path(std::string_view path_template, std::string_view local_part, std::string_view domain);

// <wkd_root>/<domain, lower-cased>/hu/<wkd_hash(local part)>, with the same checks on the domain.
KeyPath wkd_key_path(const std::filesystem::path& wkd_root, std::string_view local_part, std::string_view domain);

}  // namespace mdcrypt
