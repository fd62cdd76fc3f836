#include "core/key_paths.hpp"

#include <algorithm>

#include "core/header.hpp"
#include "core/text.hpp"
#include "core/wkd.hpp"

namespace mdcrypt {

namespace {

bool has_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

// Why `part` cannot be one path component, or nullopt when it can.
std::optional<std::string> bad_component(std::string_view part) {
    if (part.empty()) return std::string("is empty");
    if (part == "." || part == "..") return "is \"" + std::string(part) + "\"";
    if (part.find('/') != std::string_view::npos) return std::string("contains '/'");
    if (has_control(part)) return std::string("contains control characters");
    return std::nullopt;
}

// Absolute, and no "." or ".." among the components (empty ones, from "//", are harmless).
std::optional<std::string> bad_path(std::string_view path) {
    if (path.empty() || path.front() != '/') return std::string("is not absolute");
    std::size_t start = 1;
    while (start <= path.size()) {
        const std::size_t end = std::min(path.find('/', start), path.size());
        const std::string_view component = path.substr(start, end - start);
        if (component == "." || component == "..") return "has a \"" + std::string(component) + "\" component";
        start = end + 1;
    }
    return std::nullopt;
}

// Expands without checks; nullopt on a % sequence other than %d, %l, %u, %%.
std::optional<std::string> substitute(std::string_view path_template, std::string_view local, std::string_view domain) {
    std::string out;
    for (std::size_t i = 0; i < path_template.size(); ++i) {
        const char c = path_template[i];
        if (c != '%') {
            out.push_back(c);
            continue;
        }
        if (++i == path_template.size()) return std::nullopt;
        switch (path_template[i]) {
            case 'd': out += domain; break;
            case 'l': out += local; break;
            case 'u': out += std::string(local) + "@" + std::string(domain); break;
            case '%': out.push_back('%'); break;
            default: return std::nullopt;
        }
    }
    return out;
}

}  // namespace

std::string strip_subaddress(std::string_view local_part, std::string_view delimiters) {
    if (delimiters.empty() || iequals(local_part, "postmaster") || iequals(local_part, "MAILER-DAEMON"))
        return std::string(local_part);
    const std::size_t at = local_part.find_first_of(delimiters);
    if (at == std::string_view::npos || at == 0) return std::string(local_part);
    return std::string(local_part.substr(0, at));
}

std::optional<std::string> check_key_path_template(std::string_view path_template) {
    if (has_control(path_template)) return std::string("contains control characters");
    const auto sample = substitute(path_template, "l", "d");
    if (!sample) return std::string("has a % sequence other than %d, %l, %u and %% (write %% for a literal %)");
    if (const auto bad = bad_path(*sample)) return "must be an absolute path without \".\" or \"..\" components; it " + *bad;
    return std::nullopt;
}

KeyPath expand_key_path(std::string_view path_template, std::string_view local_part, std::string_view domain) {
    const std::string local = to_lower_ascii(local_part);
    const std::string dom = to_lower_ascii(domain);
    if (const auto bad = bad_component(local)) return {std::nullopt, "the local part " + *bad + ": no key file path"};
    if (const auto bad = bad_component(dom)) return {std::nullopt, "the domain " + *bad + ": no key file path"};
    if (const auto bad = check_key_path_template(path_template)) return {std::nullopt, "the key file template " + *bad};
    const auto expanded = substitute(path_template, local, dom);
    if (!expanded) return {std::nullopt, "the key file template cannot be expanded"};
    // Unreachable with the component checks above; kept as the last line of defence.
    if (const auto bad = bad_path(*expanded)) return {std::nullopt, "the key file path for " + local + "@" + dom + " " + *bad};
    return {std::filesystem::path(*expanded), {}};
}

KeyPath wkd_key_path(const std::filesystem::path& wkd_root, std::string_view local_part, std::string_view domain) {
    const std::string dom = to_lower_ascii(domain);
    if (const auto bad = bad_component(dom)) return {std::nullopt, "the domain " + *bad + ": no WKD path"};
    if (local_part.empty()) return {std::nullopt, "the local part is empty: no WKD path"};
    if (const auto bad = bad_path(wkd_root.string())) return {std::nullopt, "the WKD root " + *bad};
    return {wkd_root / dom / "hu" / wkd_hash(local_part), {}};
}

}  // namespace mdcrypt
