#include "core/ldap_filter.hpp"

namespace mdcrypt {

std::string ldap_escape_filter_value(std::string_view value) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '*' || c == '(' || c == ')' || c == '\\' || u < 0x20 || u >= 0x7f) {
            out += '\\';
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += c;
        }
    }
    return out;
}

std::optional<std::string> check_ldap_filter_template(std::string_view filter_template) {
    if (filter_template.size() < 2 || filter_template.front() != '(' || filter_template.back() != ')')
        return "a filter is enclosed in parentheses, like \"(mail=%s)\"";
    int depth = 0;
    bool has_address = false;
    for (std::size_t i = 0; i < filter_template.size(); ++i) {
        const char c = filter_template[i];
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f) return "only printable ASCII characters are allowed";
        if (c == '(') ++depth;
        if (c == ')' && --depth < 0) return "unbalanced parentheses";
        if (depth == 0 && i + 1 < filter_template.size()) return "more than one filter: combine them with (&...) or (|...)";
        if (c != '%') continue;
        if (i + 1 == filter_template.size()) return "'%' at the end (write %% for a percent sign)";
        const char p = filter_template[++i];
        if (p == 's' || p == 'l') has_address = true;
        else if (p != 'd' && p != '%') return std::string("unknown placeholder %") + p + " (valid: %s address, %l local part, %d domain, %%)";
    }
    if (depth != 0) return "unbalanced parentheses";
    if (!has_address) return "no %s (address) or %l (local part): every address would find the same entries";
    return std::nullopt;
}

std::string expand_ldap_filter(std::string_view filter_template, std::string_view local, std::string_view domain) {
    std::string out;
    for (std::size_t i = 0; i < filter_template.size(); ++i) {
        const char c = filter_template[i];
        if (c != '%' || i + 1 == filter_template.size()) {
            out += c;
            continue;
        }
        switch (filter_template[++i]) {
            case 's': out += ldap_escape_filter_value(std::string(local) + "@" + std::string(domain)); break;
            case 'l': out += ldap_escape_filter_value(local); break;
            case 'd': out += ldap_escape_filter_value(domain); break;
            default: out += filter_template[i]; break;  // "%%"
        }
    }
    return out;
}

}  // namespace mdcrypt
