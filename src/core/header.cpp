#include "core/header.hpp"

#include <algorithm>

#include "core/text.hpp"

namespace mdcrypt {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

bool is_field_name(std::string_view name) {
    if (name.empty()) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 33 && u <= 126 && c != ':';
    });
}

// The mbox "From " line is copied out unencrypted, so only a line ended by LF with no CR but one
// before that LF counts as one; anything else is parsed as header, where it starts the body.
bool is_whole_line_without_bare_cr(std::string_view message) {
    const auto nl = message.find('\n');
    const auto cr = message.find('\r');
    return nl != std::string_view::npos && (cr == std::string_view::npos || cr + 1 >= nl);
}

}  // namespace

std::string serialize_field(const HeaderField& field) {
    std::string out;
    out.reserve(field.name.size() + field.raw_value.size() + 3);
    out.append(field.name).append(":").append(field.raw_value).append("\r\n");
    return out;
}

std::string unfold(std::string_view raw_value) {
    std::string out;
    out.reserve(raw_value.size());
    for (char c : raw_value)
        if (c != '\r' && c != '\n') out.push_back(c);
    const auto first = out.find_first_not_of(" \t");
    if (first == std::string::npos) return {};
    const auto last = out.find_last_not_of(" \t");
    return out.substr(first, last - first + 1);
}

bool is_content_field(std::string_view name) {
    constexpr std::string_view prefix = "content-";
    return name.size() > prefix.size() && iequals(name.substr(0, prefix.size()), prefix);
}

std::optional<std::string> first_value(const std::vector<HeaderField>& fields, std::string_view name) {
    for (const auto& f : fields)
        if (iequals(f.name, name)) return unfold(f.raw_value);
    return std::nullopt;
}

std::size_t count_fields(const std::vector<HeaderField>& fields, std::string_view name) {
    return static_cast<std::size_t>(
        std::count_if(fields.begin(), fields.end(), [&](const HeaderField& f) { return iequals(f.name, name); }));
}

ParsedHeader parse_header_block(std::string_view message) {
    ParsedHeader result;
    std::size_t pos = 0;
    std::size_t lines_seen = 0;
    bool saw_crlf = false;
    bool saw_lf = false;

    if (message.substr(0, 5) == "From " && is_whole_line_without_bare_cr(message)) {
        const auto nl = message.find('\n');
        const std::size_t end = nl == std::string_view::npos ? message.size() : nl + 1;
        if (end > kMaxHeaderBlockBytes) {  // part of the header block: without this it escaped the limit
            result.oversized = true;
            result.defects.push_back("envelope line exceeds limits; the whole message is treated as body");
            return result;
        }
        result.envelope_line = std::string(message.substr(0, end));
        pos = end;
    }

    while (pos < message.size()) {
        const auto nl = message.find('\n', pos);
        const std::size_t line_end = nl == std::string_view::npos ? message.size() : nl;
        const std::size_t next = nl == std::string_view::npos ? message.size() : nl + 1;
        std::string_view line = message.substr(pos, line_end - pos);
        if (nl != std::string_view::npos) {
            if (!line.empty() && line.back() == '\r') {
                line.remove_suffix(1);
                saw_crlf = true;
            } else {
                saw_lf = true;
            }
        }
        if (line.empty()) {  // the empty line that ends the header
            result.body_offset = next;
            result.lf_line_ends = saw_lf && !saw_crlf;
            return result;
        }
        if (next > kMaxHeaderBlockBytes || lines_seen >= kMaxHeaderFields * 4 ||
            (result.fields.size() >= kMaxHeaderFields && !is_wsp(line.front()))) {
            result.oversized = true;
            result.defects.push_back("header block exceeds limits; the rest is treated as body");
            result.body_offset = pos;
            result.lf_line_ends = saw_lf && !saw_crlf;
            return result;
        }
        ++lines_seen;
        if (line.find('\0') != std::string_view::npos) result.defects.push_back("NUL byte in header line");
        if (line.find('\r') != std::string_view::npos) {
            // Some readers end a line at a bare CR, others do not: a body hidden behind one would stay
            // outside the encryption inside a field. From this line on everything is body.
            result.defects.push_back("bare CR in header line; body starts here");
            result.body_offset = pos;
            result.lf_line_ends = saw_lf && !saw_crlf;
            return result;
        }

        if (is_wsp(line.front())) {
            if (result.fields.empty()) {
                result.defects.push_back("continuation line before the first header field");
                result.body_offset = pos;
                result.lf_line_ends = saw_lf && !saw_crlf;
                return result;
            }
            result.fields.back().raw_value.append("\r\n").append(line);
        } else {
            const auto colon = line.find(':');
            if (colon == std::string_view::npos || !is_field_name(line.substr(0, colon))) {
                // Like Postfix: the first line that is not a header field starts the body.
                result.defects.push_back("line is not a header field; body starts here");
                result.body_offset = pos;
                result.lf_line_ends = saw_lf && !saw_crlf;
                return result;
            }
            result.fields.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
        }
        pos = next;
    }
    result.body_offset = message.size();
    result.lf_line_ends = saw_lf && !saw_crlf;
    return result;
}

}  // namespace mdcrypt
