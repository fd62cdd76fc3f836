#include "core/header_protection.hpp"

#include "core/content_type.hpp"
#include "core/text.hpp"

namespace mdcrypt {

namespace {

constexpr std::string_view kHpCipher = "hp=\"cipher\"";
// The marker of the older "protected headers" scheme (draft-autocrypt-lamps-protected-headers, superseded
// by RFC 9788), which Thunderbird, Enigmail, K-9/Thunderbird for Android and Delta Chat read instead of
// hp: with it they take the Subject from the encrypted entity. The injected fields are exactly what that
// scheme expects there, so one entity serves both kinds of reader.
constexpr std::string_view kProtectedHeadersV1 = "protected-headers=\"v1\"";
// Our header confidentiality policy: hcp_baseline (RFC 9788 Section 3.2.1) obscures the Subject to
// exactly "[...]" and also removes Comments and Keywords. We obscure the Subject only: every other field
// stays outside as it was (filters may read Keywords), and gets an HP-Outer record saying so.
constexpr std::string_view kObscuredSubject = " [...]";
constexpr std::size_t kFoldAt = 78;  // RFC 5322 section 2.1.1: lines SHOULD be at most 78 characters

// Copied into the encrypted entity and recorded in HP-Outer. An HP-Outer field arriving on the outer
// header means nothing there (RFC 9788 Section 2.2: it lives only inside the Cryptographic Payload);
// copying it inside would let a sender forge the record of what the outside showed.
bool is_injected(const RewriteOptions& options, const HeaderField& field) {
    return !is_structural_field(field.name) && !iequals(field.name, "HP-Outer") && !is_stripped_field(options, field.name);
}

// Cryptographic layers (RFC 9787): under one, the Cryptographic Payload is a part inside it.
bool is_cryptographic_layer(const ContentType& ct) {
    if (ct.type == "multipart") return ct.subtype == "signed" || ct.subtype == "encrypted";
    return ct.type == "application" && (ct.subtype == "pkcs7-mime" || ct.subtype == "x-pkcs7-mime");
}

// Appends "; " + parameter to a Content-Type value whose last line is `last_line` characters long, on
// that line or, when it would pass 78 characters, on a folded line of its own. When another parameter
// follows, the ';' that will end this one counts as well. No ';' is added after a value that already
// ends in one. Returns the length of the new last line.
std::size_t append_parameter(std::string& value, std::size_t last_line, std::string_view parameter, bool more_follow) {
    const std::string unfolded = unfold(value);
    const std::string_view separator = (!unfolded.empty() && unfolded.back() == ';') ? "" : ";";
    value.append(separator);
    if (last_line + separator.size() + 1 + parameter.size() + (more_follow ? 1 : 0) <= kFoldAt) {
        value.append(" ").append(parameter);
        return last_line + separator.size() + 1 + parameter.size();
    }
    value.append("\r\n\t").append(parameter);
    return 1 + parameter.size();
}

}  // namespace

bool applies_header_protection(const std::vector<HeaderField>& fields, const RewriteOptions& options) {
    if (!options.header_protection) return false;
    for (const auto& field : fields) {
        if (!iequals(field.name, "Content-Type")) continue;
        // A value our reader cannot read may be read otherwise by a client, which then might not find
        // the appended parameters; one with hp already would have two.
        const ContentType ct = parse_content_type(unfold(field.raw_value));
        if (!ct.valid || ct.has_param("hp") || is_cryptographic_layer(ct)) return false;
    }
    return true;
}

// RFC 9788 Section 5.2.1, for an entity that is its own Cryptographic Payload: the non-structural
// fields are injected verbatim (folding kept), then an HP-Outer record (Section 2.2) for every one of
// them that stays outside, holding the value outside, changed or not (the Appendix C examples record
// unchanged fields too); a field with no record was removed. The Content-* fields follow (pgp_mime),
// as they were plus hp="cipher" and the older scheme's protected-headers="v1", right above the body.
//
// No Legacy Display Element (RFC 9788 Section 5.2.1 adds one to the body's text parts for recipients
// expected to use a client without header protection; Section 4.5.3 has aware clients hide it): it
// would prepend "Subject: ..." to the first text/plain or text/html part, i.e. change body bytes
// inside the encrypted entity. That breaks the byte fidelity this rewrite promises, breaks every
// signature over that part (multipart/signed content, inline OpenPGP clear-signed text), and would
// need a MIME parse and re-encoding of transfer-encoded text. A client that reads neither hp nor
// protected-headers="v1" shows "[...]" as the Subject instead; the per-domain header_protection
// switch is the remedy.
std::string protected_header_fields(const std::vector<HeaderField>& fields, const RewriteOptions& options) {
    std::string out;
    for (const auto& field : fields)
        if (is_injected(options, field)) out.append(serialize_field(field));
    for (const auto& field : fields) {
        if (!is_injected(options, field)) continue;
        const std::string_view outer = iequals(field.name, "Subject") ? kObscuredSubject : std::string_view(field.raw_value);
        out.append("HP-Outer: ").append(field.name).append(":").append(outer).append("\r\n");
    }
    return out;
}

// Each parameter goes on the last line, or on a folded line of its own when that line would pass 78
// characters. A sender's own protected-headers parameter (a client of the older scheme marked the
// message itself) is kept as it is and not repeated: two would be ambiguous.
std::string with_hp_parameters(std::string_view field_name, std::string_view raw_value) {
    const bool has_protected_headers = parse_content_type(unfold(raw_value)).has_param("protected-headers");
    std::string out(raw_value);
    const auto newline = out.rfind('\n');
    std::size_t last_line = newline == std::string::npos ? field_name.size() + 1 + out.size() : out.size() - newline - 1;
    last_line = append_parameter(out, last_line, kHpCipher, !has_protected_headers);
    if (!has_protected_headers) append_parameter(out, last_line, kProtectedHeadersV1, false);
    return out;
}

std::vector<HeaderEdit> obscured_subject_edits(const std::vector<HeaderField>& fields, const RewriteOptions& options) {
    std::vector<HeaderEdit> edits;
    // hcp_baseline obscures every Subject there is (a second one must not leak it) and invents none.
    if (!applies_header_protection(fields, options) || is_stripped_field(options, "Subject")) return edits;
    const auto subjects = static_cast<int>(count_fields(fields, "Subject"));
    for (int index = 1; index <= subjects; ++index)
        edits.push_back({HeaderEdit::Kind::Change, "Subject", index, std::string(kObscuredSubject)});
    return edits;
}

}  // namespace mdcrypt
