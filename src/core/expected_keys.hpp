// The keys an administrator says a server keyring must hold (written by mdcrypt-keys), so that a
// keyring that loses keys (a bad restore, a damaged or truncated file, a file deleted while the milter
// runs) defers the mail of the addresses those keys served instead of passing it in plain text.
//
// File format, one key per line: the primary key's fingerprint (40 or 64 hex digits), then the key's
// e-mail addresses separated by white space. '#' starts a comment; blank lines are ignored. A line with
// no address puts every address in doubt when its key is missing. Pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mdcrypt {

// Its name in the GnuPG home.
inline constexpr std::string_view kExpectedKeysFile = "mdcrypt-expected-keys";

struct ExpectedKey {
    std::string fingerprint;             // upper-case hex
    std::vector<std::string> addresses;  // lower-case
    bool operator==(const ExpectedKey&) const = default;
};

struct ExpectedKeys {
    std::vector<ExpectedKey> keys;
    std::string error;  // "FILE:LINE: what is wrong"; a damaged list is a failure, never "expect nothing"
    bool ok() const { return error.empty(); }
};

// `file` names the file in error texts.
ExpectedKeys parse_expected_keys(std::string_view text, std::string_view file);

// The file's text for `keys`, with a comment saying what it is; parse_expected_keys reads it back.
std::string format_expected_keys(const std::vector<ExpectedKey>& keys);

// Of `expected`, the keys whose fingerprint is not among `listed` (upper-case hex; a listed 64-digit
// fingerprint also answers for an expectation of its first 40 digits).
std::vector<ExpectedKey> missing_keys(const std::vector<ExpectedKey>& expected, const std::vector<std::string>& listed);

}  // namespace mdcrypt
