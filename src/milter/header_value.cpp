#include "milter/header_value.hpp"

#include "core/header.hpp"
#include "core/line_ends.hpp"

namespace mdcrypt::milter {

std::string value_from_mta(std::string_view value, bool leading_space_negotiated) {
    std::string raw = to_crlf(value);
    // Without HDR_LEADSPC the MTA removed one space after the colon; "Name: value" is what nearly
    // every sender writes, so put it back. (A field written "Name:value" gains a space: harmless.)
    if (!leading_space_negotiated) raw.insert(0, 1, ' ');
    return raw;
}

std::string value_to_mta(std::string_view raw_value, bool leading_space_negotiated) {
    std::string out;
    out.reserve(raw_value.size());
    for (std::size_t i = 0; i < raw_value.size(); ++i) {
        if (raw_value[i] == '\r' && i + 1 < raw_value.size() && raw_value[i + 1] == '\n') continue;
        out.push_back(raw_value[i]);
    }
    if (!leading_space_negotiated && !out.empty() && out.front() == ' ') out.erase(0, 1);
    return out;
}

}  // namespace mdcrypt::milter
