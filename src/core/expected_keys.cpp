#include "core/expected_keys.hpp"

#include <algorithm>
#include <unordered_set>

#include "core/header.hpp"
#include "core/text.hpp"

namespace mdcrypt {

namespace {

bool is_hex_fingerprint(std::string_view s) {
    if (s.size() != 40 && s.size() != 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
    });
}

std::string to_upper_ascii(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (pos < line.size()) {
        const std::size_t start = line.find_first_not_of(" \t\r", pos);
        if (start == std::string_view::npos) break;
        const std::size_t end = std::min(line.find_first_of(" \t\r", start), line.size());
        out.push_back(line.substr(start, end - start));
        pos = end;
    }
    return out;
}

}  // namespace

ExpectedKeys parse_expected_keys(std::string_view text, std::string_view file) {
    ExpectedKeys result;
    std::size_t line_number = 0;
    for (std::size_t pos = 0; pos <= text.size();) {
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_number;
        if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        const auto fields = words(line);
        if (fields.empty()) continue;
        const std::string where = std::string(file) + ":" + std::to_string(line_number) + ": ";
        if (!is_hex_fingerprint(fields[0])) {
            result.keys.clear();
            result.error = where + "not a key fingerprint (40 or 64 hex digits) at the start of the line";
            return result;
        }
        ExpectedKey key{to_upper_ascii(fields[0]), {}};
        for (std::size_t i = 1; i < fields.size(); ++i) {
            if (fields[i].find('@') == std::string_view::npos) {
                result.keys.clear();
                result.error = where + "'" + std::string(fields[i].substr(0, 80)) + "' is not an e-mail address";
                return result;
            }
            key.addresses.push_back(to_lower_ascii(fields[i]));
        }
        result.keys.push_back(std::move(key));
        if (pos > text.size()) break;
    }
    return result;
}

std::string format_expected_keys(const std::vector<ExpectedKey>& keys) {
    std::string out =
        "# The keys this GnuPG home must hold, written by mdcrypt-keys. While a key listed here is missing\n"
        "# from the keyring, mail to its addresses is deferred (4xx), never passed in plain text.\n"
        "# fingerprint address...\n";
    for (const auto& key : keys) {
        out += key.fingerprint;
        for (const auto& address : key.addresses) out += " " + address;
        out += "\n";
    }
    return out;
}

std::vector<ExpectedKey> missing_keys(const std::vector<ExpectedKey>& expected, const std::vector<std::string>& listed) {
    std::unordered_set<std::string> present;
    for (const auto& fingerprint : listed) {
        const std::string upper = to_upper_ascii(fingerprint);
        present.insert(upper);
        if (upper.size() == 64) present.insert(upper.substr(0, 40));
    }
    std::vector<ExpectedKey> missing;
    for (const auto& key : expected)
        if (!present.contains(key.fingerprint)) missing.push_back(key);
    return missing;
}

}  // namespace mdcrypt
