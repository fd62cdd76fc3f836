#include "mailbox/mutf7.hpp"

#include <cstdint>
#include <vector>

namespace mdcrypt {

namespace {

int modified_base64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == ',') return 63;
    return -1;
}

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

}  // namespace

std::optional<std::string> mutf7_to_utf8(std::string_view name) {
    std::string out;
    std::size_t i = 0;
    while (i < name.size()) {
        const char c = name[i];
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7E) return std::nullopt;
        if (c != '&') {
            out.push_back(c);
            ++i;
            continue;
        }
        const auto end = name.find('-', i + 1);
        if (end == std::string_view::npos) return std::nullopt;
        if (end == i + 1) {  // "&-"
            out.push_back('&');
            i = end + 1;
            continue;
        }
        // Base64 of UTF-16BE, padding bits zero.
        std::vector<std::uint16_t> units;
        std::uint32_t bits = 0;
        int nbits = 0;
        for (std::size_t j = i + 1; j < end; ++j) {
            const int v = modified_base64_value(name[j]);
            if (v < 0) return std::nullopt;
            bits = (bits << 6) | static_cast<std::uint32_t>(v);
            nbits += 6;
            if (nbits >= 16) {
                nbits -= 16;
                units.push_back(static_cast<std::uint16_t>((bits >> nbits) & 0xFFFF));
            }
        }
        if (nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0 || units.empty()) return std::nullopt;
        for (std::size_t k = 0; k < units.size(); ++k) {
            const std::uint16_t u = units[k];
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (k + 1 == units.size() || units[k + 1] < 0xDC00 || units[k + 1] > 0xDFFF) return std::nullopt;
                append_utf8(out, 0x10000 + ((static_cast<std::uint32_t>(u) - 0xD800) << 10) + (units[k + 1] - 0xDC00));
                ++k;
            } else if (u >= 0xDC00 && u <= 0xDFFF) {
                return std::nullopt;
            } else {
                append_utf8(out, u);
            }
        }
        i = end + 1;
    }
    return out;
}

}  // namespace mdcrypt
