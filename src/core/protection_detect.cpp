#include "core/protection_detect.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>

#include "core/armor.hpp"
#include "core/base64.hpp"
#include "core/content_type.hpp"
#include "core/openpgp_packets.hpp"
#include "core/text.hpp"
#include "core/transfer_encoding.hpp"

namespace mdcrypt {

namespace {

constexpr std::string_view kArmorBegin = "-----BEGIN PGP MESSAGE-----";
constexpr std::size_t kMaxArmorHeaderLines = 32;

// OpenPGP packet tags (RFC 9580 section 5) and CMS content types (RFC 5652, RFC 5083).
constexpr int kTagPkesk = 1;
constexpr int kTagSkesk = 3;
constexpr int kTagSed = 9;     // symmetrically encrypted data, no integrity protection (still ciphertext)
constexpr int kTagSeipd = 18;  // symmetrically encrypted and integrity protected data
constexpr int kTagAead = 20;   // OCB encrypted data (LibrePGP, GnuPG 2.3+)
constexpr std::array<unsigned char, 9> kOidEnvelopedData{0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x03};
constexpr std::array<unsigned char, 11> kOidAuthEnvelopedData{0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D,
                                                              0x01, 0x09, 0x10, 0x01, 0x17};

Protection no(std::string why) { return {ProtectionKind::None, std::move(why)}; }

// Lines split at LF; the line excludes the LF and one CR before it.
class Lines {
public:
    explicit Lines(std::string_view text) : text_(text) {}

    // False at the end. `terminated`: the line ended with an LF (not cut off by the end of the text).
    bool next(std::string_view& line, std::size_t& start, bool& terminated) {
        if (pos_ >= text_.size()) return false;
        start = pos_;
        const auto nl = text_.find('\n', pos_);
        terminated = nl != std::string_view::npos;
        const std::size_t end = terminated ? nl : text_.size();
        line = text_.substr(pos_, end - pos_);
        if (terminated && !line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos_ = terminated ? nl + 1 : text_.size();
        return true;
    }

    std::size_t position() const { return pos_; }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

// One MIME entity as far as it lies in the inspected bytes.
struct Entity {
    std::vector<HeaderField> fields;
    std::string_view body;
    bool complete = false;  // the body ends within the inspected bytes
};

// The one Content-Type of an entity (RFC 2045's default when absent); nullopt when it is repeated or
// does not parse, since then readers may disagree on what the entity is.
std::optional<ContentType> content_type_of(const std::vector<HeaderField>& fields, std::string& why) {
    const std::size_t n = count_fields(fields, "Content-Type");
    if (n > 1) {
        why = "more than one Content-Type field";
        return std::nullopt;
    }
    if (n == 0) return parse_content_type("text/plain; charset=us-ascii");
    ContentType ct = parse_content_type(*first_value(fields, "Content-Type"));
    if (!ct.valid) {
        why = "Content-Type does not parse";
        return std::nullopt;
    }
    return ct;
}

// The body with its Content-Transfer-Encoding undone. Output is never larger than the input.
std::optional<std::string> decoded_body(const Entity& e, std::string& why) {
    const auto cte = transfer_encoding_of(e.fields, why);
    if (!cte) return std::nullopt;
    if (*cte == "7bit" || *cte == "8bit" || *cte == "binary") return std::string(e.body);
    if (*cte == "quoted-printable") return decode_quoted_printable(e.body);
    if (*cte == "base64") {
        Base64Decoder decoder(e.body.size());
        if (!decoder.feed(e.body)) {
            why = "invalid base64";
            return std::nullopt;
        }
        return std::move(decoder.output());
    }
    why = "unknown Content-Transfer-Encoding";
    return std::nullopt;
}

// --- OpenPGP

std::uint8_t byte_at(std::string_view b, std::size_t i) { return static_cast<std::uint8_t>(b[i]); }

// A packet header every reader takes alike: not truncated, and not tag 0 (reserved).
std::optional<PacketHeader> packet_header(std::string_view b, std::size_t pos) {
    const PacketHeaderRead read = read_packet_header(b, pos);
    if (read.status != PacketHeaderRead::Status::Ok || read.header.tag == 0) return std::nullopt;
    return read.header;
}

// Decoded payload bytes. `whole`: they are all of the payload, none was left out by a limit.
struct Octets {
    std::string bytes;
    bool whole = false;
};

// A packet that reaches past the bytes we have: a defect when they are the whole payload, else only
// the limit of what we looked at.
bool cut_off(bool whole, std::string& why) {
    if (whole) why = "OpenPGP packet longer than the payload";
    return !whole;
}

// RFC 9580 section 10.3: an encrypted message ends with its encrypted data packet. Follows that packet's
// length, through partial body lengths (new format, chunks of 2^n octets), and fails on bytes after it.
bool ends_with_packet(std::string_view b, std::size_t pos, const PacketHeader& h, bool whole, std::string& why) {
    if (!h.body_size && !h.new_format) return true;  // old-format indeterminate: to the end
    std::size_t at = pos + h.header_size;
    std::size_t length = h.body_size.value_or(0);
    if (!h.body_size) {
        std::size_t chunk = std::size_t{1} << (byte_at(b, pos + 1) & 0x1F);
        for (;;) {
            if (chunk >= b.size() - at) return cut_off(whole, why);  // no length octet after this chunk
            at += chunk;
            const std::uint8_t l1 = byte_at(b, at);
            const std::size_t avail = b.size() - at;
            if (l1 < 192) {
                length = l1;
                at += 1;
            } else if (l1 < 224) {
                if (avail < 2) return cut_off(whole, why);
                length = ((std::size_t{l1} - 192) << 8) + byte_at(b, at + 1) + 192;
                at += 2;
            } else if (l1 == 255) {
                if (avail < 5) return cut_off(whole, why);
                length = 0;
                for (std::size_t i = 1; i <= 4; ++i) length = (length << 8) | byte_at(b, at + i);
                at += 5;
            } else {
                chunk = std::size_t{1} << (l1 & 0x1F);
                at += 1;
                continue;
            }
            break;
        }
    }
    if (length > b.size() - at) return cut_off(whole, why);
    if (at + length == b.size()) return true;
    why = "bytes after the OpenPGP encrypted data packet";
    return false;
}

// One or more session key packets, then encrypted data and nothing else: a message nobody can read
// without a key. Reads framing only: whether the bytes inside are really ciphertext is not knowable here.
bool is_encrypted_openpgp(std::string_view b, bool whole, std::string& why) {
    std::size_t pos = 0;
    int session_keys = 0;
    for (;;) {
        const auto h = packet_header(b, pos);
        if (!h) {
            why = session_keys == 0 ? "not an OpenPGP packet" : "OpenPGP packets end before the encrypted data";
            return false;
        }
        const std::size_t body = pos + h->header_size;
        const int version = body < b.size() ? byte_at(b, body) : -1;
        if (h->tag == kTagPkesk || h->tag == kTagSkesk) {
            const bool known_version = h->tag == kTagPkesk ? (version == 3 || version == 6)
                                                          : (version == 4 || version == 5 || version == 6);
            if (!h->body_size || !known_version || *h->body_size > b.size() - body) {
                why = "malformed OpenPGP session key packet";
                return false;
            }
            ++session_keys;
            pos = body + *h->body_size;
            continue;
        }
        const bool encrypted_data = h->tag == kTagSed || (h->tag == kTagSeipd && (version == 1 || version == 2)) ||
                                    (h->tag == kTagAead && version == 1);
        if (encrypted_data && session_keys > 0) return ends_with_packet(b, pos, *h, whole, why);
        why = session_keys == 0 ? "OpenPGP message does not start with a session key packet (tag " +
                                      std::to_string(h->tag) + ")"
                                : "OpenPGP session key packets followed by tag " + std::to_string(h->tag) +
                                      ", not encrypted data";
        return false;
    }
}

// Undoes the ASCII armor of a PGP MESSAGE that must fill `text` but for white space around it.
// Keeps at most kMaxPayloadDecodedBytes; checks the base64 of every line it sees. Armor header lines
// ("Comment: ...") are cleartext a reader may be shown, so they count against kMaxCleartextBytes.
// The checksum's form is checked, not its value: `text` may be only the first part of a body.
std::optional<Octets> dearmor(std::string_view text, bool complete, std::string& why) {
    Octets out;
    bool truncated = false;
    ArmorReader armor(ArmorRules{.label = "MESSAGE",
                                 .max_header_lines = kMaxArmorHeaderLines,
                                 .max_header_bytes = kMaxCleartextBytes,
                                 .checksum = ArmorChecksum::FormOnly},
                      [&](std::string_view data) {
                          const std::size_t room = kMaxPayloadDecodedBytes - out.bytes.size();
                          truncated = truncated || data.size() > room;
                          out.bytes.append(data.substr(0, room));
                      });
    Lines lines(text);
    std::string_view line;
    std::size_t start = 0;
    bool terminated = false;
    while (!armor.done() && !armor.failed() && lines.next(line, start, terminated)) {
        if (!terminated && !complete) break;  // a partial line: the inspection limit ended it, not the sender
        armor.line(line);
    }
    if (armor.done()) {
        if (!is_blank(text.substr(lines.position()))) {
            why = "text after the armored PGP MESSAGE";
            return std::nullopt;
        }
        out.whole = !truncated;
        return out;
    }
    if (armor.failed() || complete || !armor.in_data()) {
        why = armor.lines_read() == 0 ? "text is not only an armored PGP MESSAGE"
              : armor.failed() || complete ? *armor.finish()
                                           : "armor ends in its header";
        return std::nullopt;
    }
    return out;  // cut off by the inspection limit: what was read, not whole
}

// --- CMS

// A DER/BER length at `pos`; sets `indefinite` for BER's 0x80. False when malformed.
bool ber_length(std::string_view b, std::size_t& pos, std::size_t& length, bool& indefinite) {
    if (pos >= b.size()) return false;
    const std::uint8_t first = byte_at(b, pos++);
    indefinite = first == 0x80;
    if (first < 0x80 || indefinite) {
        length = indefinite ? 0 : first;
        return true;
    }
    const std::size_t count = first & 0x7F;
    if (count > 4 || b.size() - pos < count) return false;
    length = 0;
    for (std::size_t i = 0; i < count; ++i) length = (length << 8) | byte_at(b, pos++);
    return true;
}

// ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SEQUENCE ... } with an
// enveloped or authEnveloped content type, and nothing after it when its length is definite.
bool is_cms_enveloped(std::string_view b, bool whole, std::string& why) {
    std::size_t pos = 0;
    std::size_t length = 0;
    bool indefinite = false;
    why = "not CMS enveloped data";
    if (b.empty() || byte_at(b, pos++) != 0x30 || !ber_length(b, pos, length, indefinite)) return false;
    if (!indefinite && (length > b.size() - pos ? whole : length != b.size() - pos)) {
        why = "CMS data whose length does not match the payload";
        return false;
    }
    if (pos >= b.size() || byte_at(b, pos++) != 0x06 || !ber_length(b, pos, length, indefinite) || indefinite ||
        length > b.size() - pos)
        return false;
    const std::string_view oid = b.substr(pos, length);
    auto equals = [&](const auto& expected) {
        return oid.size() == expected.size() &&
               std::equal(expected.begin(), expected.end(), oid.begin(),
                          [](unsigned char e, char c) { return e == static_cast<unsigned char>(c); });
    };
    if (!equals(kOidEnvelopedData) && !equals(kOidAuthEnvelopedData)) {
        why = "CMS content is not enveloped data (signed-data is not encrypted)";
        return false;
    }
    pos += length;
    if (pos >= b.size() || byte_at(b, pos++) != 0xA0 || !ber_length(b, pos, length, indefinite)) return false;
    return pos < b.size() && byte_at(b, pos) == 0x30;
}

// --- payloads

enum class Payload { None, OpenPgp, Cms };

std::string_view skip_blank(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
        s.remove_prefix(1);
    return s;
}

// What the decoded content of a leaf is: an armored or binary encrypted OpenPGP message, or CMS.
Payload classify_payload(const Entity& leaf, bool allow_cms, std::string& why) {
    const auto decoded = decoded_body(leaf, why);
    if (!decoded) return Payload::None;
    const std::string_view content = *decoded;
    if (skip_blank(content).substr(0, kArmorBegin.size()) == kArmorBegin) {
        const auto binary = dearmor(content, leaf.complete, why);
        return binary && is_encrypted_openpgp(binary->bytes, binary->whole, why) ? Payload::OpenPgp : Payload::None;
    }
    const std::string_view head = content.substr(0, kMaxPayloadDecodedBytes);
    const bool whole = leaf.complete && content.size() <= kMaxPayloadDecodedBytes;
    if (allow_cms && !head.empty() && head.front() == 0x30) return is_cms_enveloped(head, whole, why) ? Payload::Cms : Payload::None;
    return is_encrypted_openpgp(head, whole, why) ? Payload::OpenPgp : Payload::None;
}

// --- multipart

bool is_bchar(char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    return std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

// One boundary parameter, in one form, and the word nowhere else in the value: a second one
// (boundary=a; boundary=b, or an RFC 2231 boundary*0 next to it) or one in a comment or quoted value,
// which a reader blind to those takes for a parameter, could make another reader split the body elsewhere.
bool has_one_boundary(const std::vector<HeaderField>& fields, const ContentType& ct) {
    return ct.param_count("boundary") == 1 && count_mentions(first_value(fields, "Content-Type").value_or(""), "boundary") == 1;
}

// Text outside the ciphertext that a reader might show: white space, or at most kMaxCleartextBytes.
bool is_cleartext_short(std::string_view text) { return text.size() <= kMaxCleartextBytes || is_blank(text); }

struct Multipart {
    std::vector<Entity> parts;
    bool closed = false;  // the close delimiter was seen
};

// Splits a multipart body into its parts (RFC 2046 section 5.1.1). `budget` counts the parts whose
// headers may still be read. nullopt when the entity is not a multipart every reader splits alike.
std::optional<Multipart> split_multipart(const Entity& e, const ContentType& ct, std::size_t& budget, std::string& why) {
    const auto cte = transfer_encoding_of(e.fields, why);
    if (!cte) return std::nullopt;
    if (*cte != "7bit" && *cte != "8bit" && *cte != "binary") {
        why = "multipart with a Content-Transfer-Encoding";
        return std::nullopt;
    }
    const auto boundary = ct.param("boundary");
    if (!boundary || boundary->empty() || boundary->size() > kMaxBoundaryBytes || boundary->back() == ' ' ||
        !std::all_of(boundary->begin(), boundary->end(), is_bchar)) {
        why = "multipart without a valid boundary";
        return std::nullopt;
    }
    if (!has_one_boundary(e.fields, ct)) {
        why = "boundary parameter given more than once";
        return std::nullopt;
    }

    const std::string dash = "--" + *boundary;
    Multipart mp;
    std::optional<std::size_t> part_start;  // where the current part's bytes begin
    Lines lines(e.body);
    std::string_view line;
    std::size_t start = 0;
    bool terminated = false;
    auto close_part = [&](std::size_t delimiter_line) -> bool {
        if (!part_start) return true;  // the preamble
        if (budget == 0) {
            why = "more than " + std::to_string(kMaxInspectedParts) + " MIME parts";
            return false;
        }
        --budget;
        // The CRLF before a delimiter belongs to the delimiter.
        std::size_t end = delimiter_line;
        if (end > *part_start && e.body[end - 1] == '\n') --end;
        if (end > *part_start && e.body[end - 1] == '\r') --end;
        const std::string_view bytes = e.body.substr(*part_start, end - *part_start);
        const ParsedHeader header = parse_header_block(bytes);
        const bool header_cut = delimiter_line == e.body.size() && header.body_offset >= bytes.size() && !mp.closed;
        if (!header.envelope_line.empty() || header.oversized || !header.defects.empty() || header_cut) {
            why = "MIME part header is malformed or cut off";
            return false;
        }
        mp.parts.push_back({header.fields, bytes.substr(header.body_offset), delimiter_line != e.body.size() || mp.closed});
        return true;
    };
    while (lines.next(line, start, terminated)) {
        if (line.substr(0, dash.size()) != dash) continue;
        if (!terminated && !e.complete) break;  // a line cut off by the inspection limit
        const std::string_view rest = line.substr(dash.size());
        const bool is_close = rest.substr(0, 2) == "--";
        if (!is_blank(is_close ? rest.substr(2) : rest)) {
            why = "line that starts like a delimiter but is none";
            return std::nullopt;
        }
        if (!part_start && !is_cleartext_short(e.body.substr(0, start))) {
            why = "preamble longer than " + std::to_string(kMaxCleartextBytes) + " bytes";
            return std::nullopt;
        }
        if (is_close) {
            mp.closed = true;
            if (!close_part(start)) return std::nullopt;
            if (!is_cleartext_short(e.body.substr(lines.position()))) {
                why = "epilogue longer than " + std::to_string(kMaxCleartextBytes) + " bytes";
                return std::nullopt;
            }
            return mp;
        }
        if (!close_part(start)) return std::nullopt;
        part_start = lines.position();
    }
    if (e.complete) {
        why = "multipart without a closing delimiter";
        return std::nullopt;
    }
    if (!close_part(e.body.size())) return std::nullopt;
    return mp;
}

bool is_type(const ContentType& ct, std::string_view type, std::string_view subtype) {
    return ct.type == type && ct.subtype == subtype;
}

bool ends_with_p7m(std::string_view name) {
    return name.size() >= 4 && iequals(name.substr(name.size() - 4), ".p7m");
}

// The file name a reader would show: Content-Type's name, or Content-Disposition's filename.
std::string file_name(const std::vector<HeaderField>& fields, const ContentType& ct) {
    if (auto name = ct.param("name")) return *name;
    if (count_fields(fields, "Content-Disposition") != 1) return {};
    const ContentDisposition disposition = parse_content_disposition(*first_value(fields, "Content-Disposition"));
    return disposition.valid ? disposition.param("filename").value_or("") : std::string();
}

bool is_control_part(const Entity& part, std::string& why) {
    if (!part.complete || part.body.size() > kMaxCleartextBytes) {
        why = "control part is cut off or larger than " + std::to_string(kMaxCleartextBytes) + " bytes";
        return false;
    }
    return true;
}

Protection check_multipart_encrypted(const Multipart& mp) {
    if (mp.parts.size() != 2) return no("multipart/encrypted without exactly two parts");
    std::string why;
    if (!is_control_part(mp.parts[0], why)) return no(why);
    switch (classify_payload(mp.parts[1], true, why)) {
        case Payload::OpenPgp: return {ProtectionKind::PgpMime, "multipart/encrypted holding an encrypted OpenPGP message"};
        case Payload::Cms: return {ProtectionKind::Smime, "multipart/encrypted holding CMS enveloped data"};
        case Payload::None: break;
    }
    return no("multipart/encrypted payload: " + why);
}

// Exchange's rewrite: [text/plain with nothing in it], application/pgp-encrypted, the payload.
Protection check_exchange(const Multipart& mp) {
    std::string why;
    std::size_t i = 0;
    if (mp.parts.size() == 3) {
        const auto ct = content_type_of(mp.parts[0].fields, why);
        const auto text = ct && is_type(*ct, "text", "plain") ? decoded_body(mp.parts[0], why) : std::nullopt;
        if (!text || !mp.parts[0].complete || !is_blank(*text)) return no("multipart/mixed with a text part and application/pgp-encrypted");
        i = 1;
    }
    if (mp.parts.size() != i + 2) return no("multipart/mixed with application/pgp-encrypted in an unknown shape");
    const auto control = content_type_of(mp.parts[i].fields, why);
    if (!control || !is_type(*control, "application", "pgp-encrypted")) return no("multipart/mixed in an unknown shape");
    if (!is_control_part(mp.parts[i], why)) return no(why);
    if (classify_payload(mp.parts[i + 1], false, why) != Payload::OpenPgp) return no("Exchange-style payload: " + why);
    return {ProtectionKind::PgpMimeExchange, "multipart/mixed holding application/pgp-encrypted and an encrypted OpenPGP message"};
}

bool is_inline_text(const Entity& e, const ContentType& ct, std::string& why) {
    if (!is_type(ct, "text", "plain")) {
        why = ct.type + "/" + ct.subtype + " is not an encrypted form";
        return false;
    }
    const auto text = decoded_body(e, why);
    if (!text) return false;
    if (skip_blank(*text).substr(0, kArmorBegin.size()) != kArmorBegin) {
        why = "text is not an armored PGP MESSAGE";
        return false;
    }
    const auto binary = dearmor(*text, e.complete, why);
    return binary && is_encrypted_openpgp(binary->bytes, binary->whole, why);
}

// Every leaf below `e` (a multipart/mixed or /alternative) is ciphertext, and the first is an inline
// text. `first` is true until the first leaf was seen.
bool all_leaves_inline(const Entity& e, const ContentType& ct, int depth, std::size_t& budget, bool& first,
                       std::string& why) {
    const auto mp = split_multipart(e, ct, budget, why);
    if (!mp) return false;
    for (const auto& part : mp->parts) {
        const auto part_ct = content_type_of(part.fields, why);
        if (!part_ct) return false;
        if (part_ct->is_multipart()) {
            if (!is_type(*part_ct, "multipart", "mixed") && !is_type(*part_ct, "multipart", "alternative")) {
                why = "multipart/" + part_ct->subtype + " inside an inline OpenPGP message";
                return false;
            }
            if (depth >= kMaxMimeDepth) {
                why = "MIME nesting deeper than " + std::to_string(kMaxMimeDepth);
                return false;
            }
            if (!all_leaves_inline(part, *part_ct, depth + 1, budget, first, why)) return false;
            continue;
        }
        const bool was_first = first;
        first = false;
        if (part_ct->type == "text" || was_first) {
            if (!is_inline_text(part, *part_ct, why)) return false;
        } else if (part_ct->type == "message" || classify_payload(part, false, why) != Payload::OpenPgp) {
            why = "attachment that is not an encrypted OpenPGP message";
            return false;
        }
    }
    if (first) why = "multipart without parts";
    return !first;
}

Protection check_multipart(const Entity& top, const ContentType& ct) {
    std::string why;
    std::size_t budget = kMaxInspectedParts;
    const bool mixed = is_type(ct, "multipart", "mixed");
    if (is_type(ct, "multipart", "encrypted") || mixed) {
        const auto mp = split_multipart(top, ct, budget, why);
        if (!mp) return no(why);
        if (!mixed) return check_multipart_encrypted(*mp);
        const bool has_control = std::any_of(mp->parts.begin(), mp->parts.end(), [&](const Entity& p) {
            const auto part_ct = content_type_of(p.fields, why);
            return part_ct && is_type(*part_ct, "application", "pgp-encrypted");
        });
        if (has_control) return check_exchange(*mp);
        budget = kMaxInspectedParts;
    } else if (!is_type(ct, "multipart", "alternative")) {
        return no("multipart/" + ct.subtype + " is not an encrypted form");
    }
    bool first = true;
    if (!all_leaves_inline(top, ct, 1, budget, first, why)) return no(why);
    return {ProtectionKind::PgpInline, "every part is an armored or attached encrypted OpenPGP message"};
}

}  // namespace

std::string_view to_string(ProtectionKind kind) {
    switch (kind) {
        case ProtectionKind::None: return "none";
        case ProtectionKind::PgpMime: return "PGP/MIME";
        case ProtectionKind::PgpMimeExchange: return "PGP/MIME mangled by Exchange";
        case ProtectionKind::PgpInline: return "inline OpenPGP";
        case ProtectionKind::Smime: return "S/MIME";
    }
    return "?";
}

Protection detect_protection(const std::vector<HeaderField>& fields, std::string_view body_prefix, bool body_complete) {
    Entity top;
    top.fields = fields;
    top.body = body_prefix.substr(0, kMaxInspectedBodyBytes);
    top.complete = body_complete && body_prefix.size() <= kMaxInspectedBodyBytes;

    std::string why;
    const auto ct = content_type_of(fields, why);
    if (!ct) return no(why);
    if (ct->is_multipart()) return check_multipart(top, *ct);

    const bool pkcs7 = is_type(*ct, "application", "pkcs7-mime") || is_type(*ct, "application", "x-pkcs7-mime");
    if (pkcs7 || (ct->type == "application" && ends_with_p7m(file_name(fields, *ct)))) {
        const auto der = decoded_body(top, why);
        if (!der) return no("S/MIME body: " + why);
        const bool whole = top.complete && der->size() <= kMaxPayloadDecodedBytes;
        if (!is_cms_enveloped(std::string_view(*der).substr(0, kMaxPayloadDecodedBytes), whole, why)) return no(why);
        return {ProtectionKind::Smime, "CMS enveloped data"};
    }
    if (!is_inline_text(top, *ct, why)) return no(why);
    return {ProtectionKind::PgpInline, "text is an armored encrypted OpenPGP message"};
}

}  // namespace mdcrypt
