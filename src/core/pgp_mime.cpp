#include "core/pgp_mime.hpp"

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/text.hpp"

namespace mdcrypt {

namespace {

constexpr std::string_view kDefaultContentType = "Content-Type: text/plain; charset=us-ascii\r\n";
constexpr std::size_t kMaxDashLinesRemembered = 64;
constexpr std::size_t kDashLinePrefixKept = 200;  // > the longest delimiter, 2 + 70 (RFC 2046)
constexpr int kBoundaryAttempts = 16;

// Writes the armor with CRLF line ends and remembers the lines starting with '-', the only ones a
// boundary delimiter ("--" + boundary) could collide with.
class ArmorSink final : public ByteSink {
public:
    explicit ArmorSink(Spool& spool) : spool_(spool) {}

    void write(std::string_view bytes) override {
        out_.clear();  // kept between calls: engines write a line or a few at a time
        out_.reserve(bytes.size() + bytes.size() / 32 + 2);
        std::size_t i = 0;
        while (i < bytes.size()) {
            // A run without CR or LF is copied whole; only its first characters matter for tracking.
            const char* from = bytes.data() + i;
            const std::size_t left = bytes.size() - i;
            const void* lf = std::memchr(from, '\n', left);
            const std::size_t to_lf = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - from) : left;
            const void* cr = std::memchr(from, '\r', to_lf);
            const std::size_t run = cr ? static_cast<std::size_t>(static_cast<const char*>(cr) - from) : to_lf;
            if (run > 0) {
                track_run(std::string_view(from, run));
                out_.append(from, run);
                last_ = from[run - 1];
                i += run;
                continue;
            }
            const char c = bytes[i++];
            if (c == '\n' && last_ != '\r') out_.push_back('\r');
            out_.push_back(c);
            capturing_ = false;
            at_line_start_ = (c == '\n');
            last_ = c;
        }
        spool_.write(out_);
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
    // A run of characters other than CR and LF.
    void track_run(std::string_view run) {
        if (at_line_start_) {
            at_line_start_ = false;
            if (run.front() == '-') {
                if (dash_lines_.size() >= kMaxDashLinesRemembered) {
                    overflow_ = true;
                } else {
                    dash_lines_.emplace_back();
                    capturing_ = true;
                }
            }
        }
        if (capturing_) {
            std::string& line = dash_lines_.back();
            line.append(run.substr(0, kDashLinePrefixKept - std::min(line.size(), kDashLinePrefixKept)));
        }
    }

    Spool& spool_;
    char last_ = '\n';
    bool at_line_start_ = true;
    bool capturing_ = false;
    bool overflow_ = false;
    std::vector<std::string> dash_lines_;
    std::string out_;
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

std::string inner_entity_header(const std::vector<HeaderField>& fields, const RewriteOptions& options) {
    const bool protect = applies_header_protection(fields, options);
    std::string out = protect ? protected_header_fields(fields, options) : std::string();
    if (count_fields(fields, "Content-Type") == 0) {
        if (protect) out.append(serialize_field({"Content-Type", with_hp_parameters("Content-Type", " text/plain; charset=us-ascii")}));
        else out.append(kDefaultContentType);
    }
    for (const auto& field : fields) {
        if (!is_content_field(field.name)) continue;
        if (protect && iequals(field.name, "Content-Type"))
            out.append(serialize_field({field.name, with_hp_parameters(field.name, field.raw_value)}));
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
        if (is_structural_field(name)) continue;  // the rewrite's own
        if (std::any_of(stripped.begin(), stripped.end(), [&](const std::string& s) { return iequals(s, name); })) continue;
        stripped.push_back(name);
        for (auto index = static_cast<int>(count_fields(fields, name)); index >= 1; --index)
            edits.push_back({Kind::Delete, name, index, {}});
    }

    const auto subjects = obscured_subject_edits(fields, options);
    edits.insert(edits.end(), subjects.begin(), subjects.end());
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
