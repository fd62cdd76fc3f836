#include "core/pgp_mime.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace mdcrypt {

namespace {

constexpr std::string_view kDefaultContentType = "Content-Type: text/plain; charset=us-ascii\r\n";
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
constexpr std::size_t kMaxDashLinesRemembered = 64;
constexpr std::size_t kDashLinePrefixKept = 200;  // > the longest delimiter, 2 + 70 (RFC 2046)
constexpr int kBoundaryAttempts = 16;

// Writes the armor with CRLF line ends and remembers the lines starting with '-', the only ones a
// boundary delimiter ("--" + boundary) could collide with.
class ArmorSink final : public ByteSink {
public:
    explicit ArmorSink(Spool& spool) : spool_(spool) {}

    void write(std::string_view bytes) override {
        std::string out;
        out.reserve(bytes.size() + bytes.size() / 32 + 2);
        for (char c : bytes) {
            if (c == '\n' && last_ != '\r') out.push_back('\r');
            out.push_back(c);
            track(c);
            last_ = c;
        }
        spool_.write(out);
    }

    void finish() {
        if (last_ != '\n' && spool_.size() > 0) write("\n");
    }

    bool collides(std::string_view boundary) const {
        const std::string delimiter = "--" + std::string(boundary);
        if (overflow_) return true;  // cannot prove absence: refuse every candidate
        for (const auto& line : dash_lines_)
            if (line.compare(0, delimiter.size(), delimiter) == 0) return true;
        return false;
    }

private:
    void track(char c) {
        if (c == '\n' || c == '\r') {
            capturing_ = false;
            at_line_start_ = (c == '\n');
            return;
        }
        if (at_line_start_) {
            at_line_start_ = false;
            if (c == '-') {
                if (dash_lines_.size() >= kMaxDashLinesRemembered) {
                    overflow_ = true;
                } else {
                    dash_lines_.emplace_back();
                    capturing_ = true;
                }
            }
        }
        if (capturing_ && dash_lines_.back().size() < kDashLinePrefixKept) dash_lines_.back().push_back(c);
    }

    Spool& spool_;
    char last_ = '\n';
    bool at_line_start_ = true;
    bool capturing_ = false;
    bool overflow_ = false;
    std::vector<std::string> dash_lines_;
};

bool is_mime_version_1_0(std::string_view raw_value) {
    std::string value;
    int depth = 0;
    for (char c : unfold(raw_value)) {
        if (c == '(') ++depth;
        else if (c == ')' && depth > 0) --depth;
        else if (depth == 0 && c != ' ' && c != '\t') value.push_back(c);
    }
    return value == "1.0";
}

// RFC 9787 calls Content-* and MIME-Version "structural": they describe the MIME part, not the
// message, and header protection leaves them alone.
bool is_structural(std::string_view name) { return is_content_field(name) || iequals(name, "MIME-Version"); }

bool is_stripped(const RewriteOptions& options, std::string_view name) {
    if (is_structural(name)) return false;  // the rewrite's own fields
    return std::any_of(options.strip_fields.begin(), options.strip_fields.end(),
                       [&](const std::string& s) { return iequals(s, name); });
}

// Copied into the encrypted entity and recorded in HP-Outer. An HP-Outer field arriving on the outer
// header means nothing there (RFC 9788 Section 2.2: it lives only inside the Cryptographic Payload);
// copying it inside would let a sender forge the record of what the outside showed.
bool is_injected(const RewriteOptions& options, const HeaderField& field) {
    return !is_structural(field.name) && !iequals(field.name, "HP-Outer") && !is_stripped(options, field.name);
}

bool is_token_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 32 || u >= 127) return false;
    return std::string_view("()<>@,;:\\\"/[]?=").find(c) == std::string_view::npos;  // RFC 2045 tspecials
}

bool is_parameter(std::string_view name, std::string_view wanted) {
    // name, name* (RFC 2231 extended) and name*0, name*0* ... (continuations) all set `wanted`.
    return iequals(name, wanted) || (name.size() > wanted.size() && name[wanted.size()] == '*' &&
                                     iequals(name.substr(0, wanted.size()), wanted));
}

struct ContentTypeScan {
    std::string media_type;              // lower-cased type/subtype
    bool has_protected_headers = false;  // the sender's value has a protected-headers parameter
};

// Whether a client will find a parameter appended to this Content-Type value: the media type is
// token "/" token (white space and comments around them allowed), no hp parameter is there already
// (two would be ambiguous), and the value ends outside any quoted string or comment, so that
// "; hp=..." is read as a parameter of its own.
bool accepts_appended_parameter(std::string_view raw_value, ContentTypeScan* scan) {
    enum class Part { Type, Name, Value } part = Part::Type;
    std::string type, name;
    bool has_protected_headers = false;
    bool quoted = false, escaped = false;
    int depth = 0;
    for (char c : raw_value) {
        if (escaped) {
            escaped = false;
            continue;
        }
        if (quoted) {
            if (c == '\\') escaped = true;
            else if (c == '"') quoted = false;
            continue;
        }
        if (depth > 0) {
            if (c == '\\') escaped = true;
            else if (c == '(') ++depth;
            else if (c == ')') --depth;
            continue;
        }
        if (c == '(') {
            ++depth;
        } else if (c == '"') {
            if (part != Part::Value) return false;  // quoted strings only in parameter values
            quoted = true;
        } else if (c == ';') {
            part = Part::Name;
            name.clear();
        } else if (c == '=' && part == Part::Name) {
            if (is_parameter(name, "hp")) return false;
            if (is_parameter(name, "protected-headers")) has_protected_headers = true;
            part = Part::Value;
        } else if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            if (part == Part::Type) type.push_back(c);
            else if (part == Part::Name) name.push_back(c);
        }
    }
    if (quoted || depth != 0 || escaped) return false;
    const auto slash = type.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == type.size()) return false;
    for (std::size_t i = 0; i < type.size(); ++i)
        if (i != slash && !is_token_char(type[i])) return false;
    if (scan) *scan = {to_lower_ascii(type), has_protected_headers};
    return true;
}

// Cryptographic layers (RFC 9787): under one, the Cryptographic Payload is a part inside it.
bool is_cryptographic_layer(std::string_view media_type) {
    return media_type == "multipart/signed" || media_type == "multipart/encrypted" ||
           media_type == "application/pkcs7-mime" || media_type == "application/x-pkcs7-mime";
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

// The Content-Type value with hp="cipher" and then protected-headers="v1" as its last parameters.
// Everything before them stays byte for byte; each goes on the last line, or on a folded line of its own
// when that line would pass 78 characters. A sender's own protected-headers parameter (a client of the
// older scheme marked the message itself) is kept as it is and not repeated: two would be ambiguous.
std::string with_hp_parameters(const HeaderField& content_type) {
    ContentTypeScan scan;
    accepts_appended_parameter(content_type.raw_value, &scan);  // true: applies_header_protection checked it
    std::string out = content_type.raw_value;
    const auto newline = out.rfind('\n');
    std::size_t last_line = newline == std::string::npos ? content_type.name.size() + 1 + out.size() : out.size() - newline - 1;
    last_line = append_parameter(out, last_line, kHpCipher, !scan.has_protected_headers);
    if (!scan.has_protected_headers) append_parameter(out, last_line, kProtectedHeadersV1, false);
    return out;
}

}  // namespace

BoundaryGenerator random_boundary_generator() {
    return [] {
        std::array<unsigned char, 16> random{};
        std::size_t got = 0;
        while (got < random.size()) {
            const ssize_t n = ::getrandom(random.data() + got, random.size() - got, 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
            }
            got += static_cast<std::size_t>(n);
        }
        static constexpr char hex[] = "0123456789abcdef";
        std::string boundary = "mdcrypt.";
        for (unsigned char b : random) {
            boundary.push_back(hex[b >> 4]);
            boundary.push_back(hex[b & 15]);
        }
        boundary += "_";
        return boundary;
    };
}

bool applies_header_protection(const std::vector<HeaderField>& fields, const RewriteOptions& options) {
    if (!options.header_protection) return false;
    for (const auto& field : fields) {
        if (!iequals(field.name, "Content-Type")) continue;
        ContentTypeScan scan;
        if (!accepts_appended_parameter(field.raw_value, &scan) || is_cryptographic_layer(scan.media_type)) return false;
    }
    return true;
}

// RFC 9788 Section 5.2.1, for an entity that is its own Cryptographic Payload: the non-structural
// fields are injected verbatim (folding kept), then an HP-Outer record (Section 2.2) for every one of
// them that stays outside, holding the value outside, changed or not (the Appendix C examples record
// unchanged fields too); a field with no record was removed. The Content-* fields follow, as they were
// (plus hp="cipher" and the older scheme's protected-headers="v1"), right above the body.
//
// No Legacy Display Element (RFC 9788 Section 5.2.1 adds one to the body's text parts for recipients
// expected to use a client without header protection; Section 4.5.3 has aware clients hide it): it
// would prepend "Subject: ..." to the first text/plain or text/html part, i.e. change body bytes
// inside the encrypted entity. That breaks the byte fidelity this rewrite promises, breaks every
// signature over that part (multipart/signed content, inline OpenPGP clear-signed text), and would
// need a MIME parse and re-encoding of transfer-encoded text. A client that reads neither hp nor
// protected-headers="v1" shows "[...]" as the Subject instead; the per-domain header_protection
// switch is the remedy.
std::string inner_entity_header(const std::vector<HeaderField>& fields, const RewriteOptions& options) {
    const bool protect = applies_header_protection(fields, options);
    std::string out;
    if (protect) {
        for (const auto& field : fields)
            if (is_injected(options, field)) out.append(serialize_field(field));
        for (const auto& field : fields) {
            if (!is_injected(options, field)) continue;
            const std::string_view outer = iequals(field.name, "Subject") ? kObscuredSubject : std::string_view(field.raw_value);
            out.append("HP-Outer: ").append(field.name).append(":").append(outer).append("\r\n");
        }
    }
    if (count_fields(fields, "Content-Type") == 0) {
        if (protect) out.append(serialize_field({"Content-Type", with_hp_parameters({"Content-Type", " text/plain; charset=us-ascii"})}));
        else out.append(kDefaultContentType);
    }
    for (const auto& field : fields) {
        if (!is_content_field(field.name)) continue;
        if (protect && iequals(field.name, "Content-Type"))
            out.append(serialize_field({field.name, with_hp_parameters(field)}));
        else
            out.append(serialize_field(field));
    }
    out.append("\r\n");
    return out;
}

std::vector<HeaderEdit> outer_header_edits(const std::vector<HeaderField>& fields, std::string_view boundary,
                                           const RewriteOptions& options) {
    using Kind = HeaderEdit::Kind;
    const std::string content_type =
        " multipart/encrypted;\r\n\tprotocol=\"application/pgp-encrypted\";\r\n\tboundary=\"" + std::string(boundary) + "\"";
    std::vector<HeaderEdit> edits;

    // Content-* names in order of first appearance, each with its count.
    std::vector<std::pair<std::string, int>> names;
    for (const auto& field : fields) {
        if (!is_content_field(field.name)) continue;
        auto it = std::find_if(names.begin(), names.end(), [&](const auto& n) { return iequals(n.first, field.name); });
        if (it == names.end()) names.emplace_back(field.name, 1);
        else ++it->second;
    }
    bool content_type_kept = false;
    for (const auto& [name, count] : names) {
        const bool is_type = iequals(name, "Content-Type");
        for (int index = count; index >= (is_type ? 2 : 1); --index) edits.push_back({Kind::Delete, name, index, {}});
        if (is_type) {
            edits.push_back({Kind::Change, name, 1, content_type});
            content_type_kept = true;
        }
    }

    const std::size_t versions = count_fields(fields, "MIME-Version");
    for (auto index = static_cast<int>(versions); index >= 2; --index) edits.push_back({Kind::Delete, "MIME-Version", index, {}});
    if (versions == 0) {
        edits.push_back({Kind::Add, "MIME-Version", 0, " 1.0"});
    } else {
        for (const auto& field : fields) {
            if (!iequals(field.name, "MIME-Version")) continue;
            if (!is_mime_version_1_0(field.raw_value)) edits.push_back({Kind::Change, "MIME-Version", 1, " 1.0"});
            break;
        }
    }
    if (!content_type_kept) edits.push_back({Kind::Add, "Content-Type", 0, content_type});

    // Stripped fields, each name once, last occurrence first (see edits.hpp).
    std::vector<std::string> stripped;
    for (const auto& name : options.strip_fields) {
        if (is_structural(name)) continue;  // the rewrite's own
        if (std::any_of(stripped.begin(), stripped.end(), [&](const std::string& s) { return iequals(s, name); })) continue;
        stripped.push_back(name);
        for (auto index = static_cast<int>(count_fields(fields, name)); index >= 1; --index)
            edits.push_back({Kind::Delete, name, index, {}});
    }

    // hcp_baseline obscures every Subject there is (a second one must not leak it) and invents none.
    if (applies_header_protection(fields, options) && !is_stripped(options, "Subject")) {
        const auto subjects = static_cast<int>(count_fields(fields, "Subject"));
        for (int index = 1; index <= subjects; ++index)
            edits.push_back({Kind::Change, "Subject", index, std::string(kObscuredSubject)});
    }
    return edits;
}

EncryptedBody::EncryptedBody(std::string boundary, Spool armor) : boundary_(std::move(boundary)), armor_(std::move(armor)) {
    prefix_ = "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n"
              "--" + boundary_ + "\r\n"
              "Content-Type: application/pgp-encrypted\r\n"
              "Content-Description: PGP/MIME version identification\r\n"
              "\r\n"
              "Version: 1\r\n"
              "\r\n"
              "--" + boundary_ + "\r\n"
              "Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n"
              "Content-Description: OpenPGP encrypted message\r\n"
              "Content-Disposition: inline; filename=\"encrypted.asc\"\r\n"
              "\r\n";
    suffix_ = "\r\n--" + boundary_ + "--\r\n";
}

std::uint64_t EncryptedBody::size() const { return prefix_.size() + armor_.size() + suffix_.size(); }

namespace {

// Owns the readers it concatenates.
class EncryptedBodySource final : public ByteSource {
public:
    EncryptedBodySource(std::string_view prefix, std::unique_ptr<ByteSource> armor, std::string_view suffix)
        : prefix_(prefix), armor_(std::move(armor)), suffix_(suffix), parts_{&prefix_, armor_.get(), &suffix_}, all_(parts_) {}
    std::size_t read(std::span<char> out) override { return all_.read(out); }

private:
    StringSource prefix_;
    std::unique_ptr<ByteSource> armor_;
    StringSource suffix_;
    std::array<ByteSource*, 3> parts_;
    ConcatSource all_;
};

}  // namespace

std::unique_ptr<ByteSource> EncryptedBody::reader() const {
    return std::make_unique<EncryptedBodySource>(prefix_, armor_.reader(), suffix_);
}

EncryptedMessage encrypt_message(const std::vector<HeaderField>& fields, ByteSource& body_crlf,
                                 std::span<const std::string> fingerprints, Encryptor& encryptor,
                                 const SpoolSettings& spool, const BoundaryGenerator& boundaries,
                                 const RewriteOptions& options) {
    std::vector<EncryptionKey> keys;
    for (const auto& fingerprint : fingerprints) keys.push_back(EncryptionKey{fingerprint});
    return encrypt_message(fields, body_crlf, std::span<const EncryptionKey>(keys), encryptor, spool, boundaries, options);
}

EncryptedMessage encrypt_message(const std::vector<HeaderField>& fields, ByteSource& body_crlf,
                                 std::span<const EncryptionKey> keys, Encryptor& encryptor,
                                 const SpoolSettings& spool, const BoundaryGenerator& boundaries,
                                 const RewriteOptions& options) {
    if (keys.empty()) throw EncryptError("no recipient keys to encrypt to");
    const std::string header = inner_entity_header(fields, options);
    StringSource header_source(header);
    std::array<ByteSource*, 2> parts{&header_source, &body_crlf};
    ConcatSource entity(parts);

    Spool armor(spool);
    ArmorSink sink(armor);
    encryptor.encrypt_to(entity, keys, sink);
    sink.finish();
    if (armor.size() == 0) throw EncryptError("the encryption engine produced no output");

    for (int attempt = 0; attempt < kBoundaryAttempts; ++attempt) {
        std::string boundary = boundaries();
        if (sink.collides(boundary)) continue;
        EncryptedMessage result;
        result.header_edits = outer_header_edits(fields, boundary, options);
        result.body = std::make_unique<EncryptedBody>(std::move(boundary), std::move(armor));
        return result;
    }
    throw EncryptError("no MIME boundary could be found that does not occur in the ciphertext");
}

}  // namespace mdcrypt
