#include "core/transfer_encoding.hpp"

#include "core/text.hpp"

namespace mdcrypt {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

std::optional<std::string> transfer_encoding_of(const std::vector<HeaderField>& fields, std::string& why) {
    const std::size_t n = count_fields(fields, "Content-Transfer-Encoding");
    if (n > 1) {
        why = "more than one Content-Transfer-Encoding field";
        return std::nullopt;
    }
    if (n == 0) return std::string("7bit");
    return to_lower_ascii(*first_value(fields, "Content-Transfer-Encoding"));
}

std::string decode_quoted_printable(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '=') {
            out.push_back(in[i]);
            continue;
        }
        if (in.substr(i + 1, 2) == "\r\n") {
            i += 2;
        } else if (in.substr(i + 1, 1) == "\n") {
            i += 1;
        } else if (i + 2 < in.size() && hex_value(in[i + 1]) >= 0 && hex_value(in[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2])));
            i += 2;
        } else {
            out.push_back('=');  // not an escape: RFC 2045 section 6.7 suggests keeping it
        }
    }
    return out;
}

}  // namespace mdcrypt
