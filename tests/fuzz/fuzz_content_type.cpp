// libFuzzer target for the one reader of Content-Type and Content-Disposition values (content_type.hpp)
// and for what header protection writes into a Content-Type (header_protection.hpp). The input is one
// field value.
// Invariants, checked with abort() so libFuzzer keeps the input:
//   - the limits hold; an invalid Content-Type reads as RFC 2045's text/plain, an invalid disposition
//     as nothing; a parsed parameter is found by param() and counted by param_count();
//   - count_mentions is never below param_count (detection relies on it: one mention, one parameter);
//   - a disposition reads exactly as the old reading did, a Content-Type behind an "x/" type;
//   - a value header protection accepts still parses after hp="cipher" is appended, with that hp.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/content_type.hpp"
#include "core/header.hpp"
#include "core/header_protection.hpp"
#include "core/text.hpp"

using namespace mdcrypt;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

void check_parameters(const MimeParameters& p) {
    check(p.params.size() <= kMaxContentTypeParams && p.written_names.size() <= kMaxContentTypeParams);
    check(p.params.size() <= p.written_names.size());
    for (const auto& [name, value] : p.params) {
        check(!name.empty() && name == to_lower_ascii(name));
        check(value.size() <= kMaxContentTypeValueBytes && value.find('\0') == std::string::npos);
        check(p.param(name) == value);  // names are unique: the first occurrence is the one kept
        check(p.param_count(name) >= 1);
    }
}

void check_content_type(std::string_view value) {
    const ContentType ct = parse_content_type(value);
    check_parameters(ct);
    if (!ct.valid) {
        check(ct.type == "text" && ct.subtype == "plain" && ct.param("charset") == "us-ascii" && ct.params.size() == 1);
        return;
    }
    check(!ct.type.empty() && !ct.subtype.empty() && ct.type == to_lower_ascii(ct.type));
    for (std::string_view word : {"boundary", "hp", "protected-headers", "name"})
        check(count_mentions(value, word) >= ct.param_count(word));
}

void check_disposition(std::string_view value) {
    const ContentDisposition cd = parse_content_disposition(value);
    check_parameters(cd);
    if (!cd.valid) check(cd.type.empty() && cd.params.empty() && cd.written_names.empty());
    const ContentType old = parse_content_type("x/" + std::string(value));
    check(cd.valid == old.valid);
    if (cd.valid) check(cd.type == old.subtype && cd.params == old.params && cd.written_names == old.written_names);
}

// Only values a header field can hold as one line: folding is header.cpp's business.
void check_header_protection(std::string_view value) {
    if (value.find_first_of("\r\n") != std::string_view::npos) return;
    const std::vector<HeaderField> fields{{"Content-Type", " " + std::string(value)}};
    if (!applies_header_protection(fields, RewriteOptions{})) return;
    const ContentType before = parse_content_type(value);
    check(before.valid && !before.has_param("hp"));
    const std::string marked = with_hp_parameters("Content-Type", fields[0].raw_value);
    check(marked.compare(0, fields[0].raw_value.size(), fields[0].raw_value) == 0);
    if (before.written_names.size() + 2 > kMaxContentTypeParams) return;  // our own limit, not a client's
    const ContentType after = parse_content_type(unfold(marked));
    check(after.valid && after.param("hp") == "cipher" && after.param_count("hp") == 1);
    check(after.type == before.type && after.subtype == before.subtype);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view value(reinterpret_cast<const char*>(data), size);
    check_content_type(value);
    check_disposition(value);
    check_header_protection(value);
    return 0;
}
