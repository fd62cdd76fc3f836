// The whole RFC 3156 rewrite with real keys: the core's encrypt_message with GpgmeEncryptor on sample
// messages, the result checked for structure and decrypted with three implementations (gpg, Sequoia's
// sqop, rnp) back to exactly the bytes that went in.
#include <catch2/catch.hpp>

#include "core/edits.hpp"
#include "core/header.hpp"
#include "core/line_ends.hpp"
#include "core/pgp_mime.hpp"
#include "core/text.hpp"
#include "crypto/gpgme_encryptor.hpp"
#include "server_home.hpp"

using namespace mdcrypt;
using namespace mdcrypt::test;

namespace {

const TestKey& key(const char* name) { return TestKeys::get()[name]; }

std::string sample(const char* file) { return read_file(std::filesystem::path(MDCRYPT_TEST_DATA) / "messages" / file); }

std::vector<std::string> split_crlf_lines(std::string_view text) {
    std::vector<std::string> lines;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const auto end = text.find("\r\n", pos);
        if (end == std::string_view::npos) {
            lines.emplace_back(text.substr(pos));
            break;
        }
        lines.emplace_back(text.substr(pos, end - pos));
        pos = end + 2;
    }
    return lines;
}

std::string join_crlf(const std::vector<std::string>& lines, std::size_t from, std::size_t to) {
    std::string out;
    for (std::size_t i = from; i < to; ++i) out += lines[i] + (i + 1 < to ? "\r\n" : "");
    return out;
}

// Fields that are neither Content-* nor MIME-Version, in order: the rewrite must not touch them.
std::vector<std::pair<std::string, std::string>> message_fields(const std::vector<HeaderField>& fields) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& f : fields)
        if (!is_content_field(f.name) && !iequals(f.name, "MIME-Version")) out.emplace_back(f.name, f.raw_value);
    return out;
}

struct Part {
    std::string header;  // CRLF lines, without the empty line
    std::string body;
};

// Checks the multipart/encrypted body and returns its two parts.
std::pair<Part, Part> encrypted_parts(const std::string& body, const std::string& boundary) {
    const std::vector<std::string> lines = split_crlf_lines(body);
    std::vector<std::size_t> delimiters;
    std::size_t close = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i] == "--" + boundary) delimiters.push_back(i);
        if (lines[i] == "--" + boundary + "--") close = i;
    }
    REQUIRE(delimiters.size() == 2);
    REQUIRE(close > delimiters[1]);
    CHECK(close + 2 == lines.size());  // the close delimiter ends the body, with its CRLF
    CHECK(lines.back().empty());

    auto part = [&](std::size_t from, std::size_t to) {
        std::size_t blank = from + 1;
        while (blank < to && !lines[blank].empty()) ++blank;
        REQUIRE(blank < to);
        return Part{join_crlf(lines, from + 1, blank), join_crlf(lines, blank + 1, to)};
    };
    return {part(delimiters[0], delimiters[1]), part(delimiters[1], close)};
}

class RoundTrip {
public:
    RoundTrip() : encryptor_(server_.path(), TrustModel::ServerKeyring) {}

    // Encrypts `message` to `recipient`, checks RFC 3156 form and decrypts it three ways.
    void check(const std::string& message, const char* recipient, const RewriteOptions& options) {
        INFO("recipient " << recipient << ", header protection " << options.header_protection);
        const ParsedHeader parsed = parse_header_block(message);
        REQUIRE_FALSE(parsed.oversized);
        REQUIRE(parsed.defects.empty());
        const std::string original_body = message.substr(parsed.body_offset);
        const std::string entity = inner_entity_header(parsed.fields, options) + original_body;
        const bool protects = applies_header_protection(parsed.fields, options);

        StringSource body_source(original_body);
        const std::vector<std::string> fingerprints{key(recipient).fingerprint};
        const SpoolSettings spool{spool_dir_.path(), 4096};  // larger messages spill to a file
        const EncryptedMessage encrypted =
            encrypt_message(parsed.fields, body_source, fingerprints, encryptor_, spool, random_boundary_generator(), options);
        const std::vector<HeaderField> fields = apply_header_edits(parsed.fields, encrypted.header_edits);
        const std::string body = read_all(*encrypted.body->reader());
        CHECK(body.size() == encrypted.body->size());
        const std::string& boundary = encrypted.body->boundary();

        // The outer header.
        REQUIRE(count_fields(fields, "Content-Type") == 1);
        const std::string content_type = *first_value(fields, "Content-Type");
        CHECK_THAT(content_type, Catch::StartsWith("multipart/encrypted;"));
        CHECK_THAT(content_type, Catch::Contains("protocol=\"application/pgp-encrypted\""));
        CHECK_THAT(content_type, Catch::Contains("boundary=\"" + boundary + "\""));
        REQUIRE(count_fields(fields, "MIME-Version") == 1);
        CHECK_THAT(*first_value(fields, "MIME-Version"), Catch::StartsWith("1.0"));
        for (const auto& f : fields)
            if (is_content_field(f.name)) CHECK(iequals(f.name, "Content-Type"));
        // Everything else stays as it was, in order; with header protection the Subject reads "[...]".
        auto expected_fields = message_fields(parsed.fields);
        if (protects)
            for (auto& [name, value] : expected_fields)
                if (iequals(name, "Subject")) value = " [...]";
        CHECK(message_fields(fields) == expected_fields);

        // The two parts.
        const auto [version, payload] = encrypted_parts(body, boundary);
        CHECK_THAT(version.header, Catch::Contains("Content-Type: application/pgp-encrypted"));
        CHECK(version.body == "Version: 1\r\n");
        CHECK_THAT(payload.header, Catch::StartsWith("Content-Type: application/octet-stream"));
        CHECK_THAT(payload.body, Catch::StartsWith("-----BEGIN PGP MESSAGE-----\r\n"));
        CHECK_THAT(payload.body, Catch::EndsWith("-----END PGP MESSAGE-----\r\n"));
        const std::string& armor = payload.body;

        // Three implementations agree, byte for byte.
        const ProcessResult by_gpg = recipient_.gpg({"--decrypt"}, armor);
        INFO("gpg: " << by_gpg.describe());
        REQUIRE(by_gpg.ok());
        CHECK(by_gpg.out == entity);

        const ProcessResult by_sqop = run_process({"sqop", "decrypt", key(recipient).secret_file.string()}, armor);
        INFO("sqop: " << by_sqop.describe());
        REQUIRE(by_sqop.ok());
        CHECK(by_sqop.out == entity);

        const ProcessResult by_rnp = run_process({"rnp", "--homedir", rnp_home_.path().string(), "--keyfile",
                                                  key(recipient).secret_file.string(), "--decrypt", "--output", "-"},
                                                 armor);
        INFO("rnp: " << by_rnp.describe());
        REQUIRE(by_rnp.ok());
        CHECK(by_rnp.out == entity);
        last_decrypted_ = by_gpg.out;
    }

    // To alice (cv25519) and bob (RSA-3072), each as plain RFC 3156 and with the default options
    // (RFC 9788 header protection where it applies).
    void check_all(const std::string& message) {
        RewriteOptions plain;
        plain.header_protection = false;
        for (const char* recipient : {"alice", "bob"}) {
            check(message, recipient, plain);
            check(message, recipient, RewriteOptions{});
        }
    }

    const std::string& last_decrypted() const { return last_decrypted_; }
    const GnupgHome& server() const { return server_; }
    const GnupgHome& recipient() const { return recipient_; }

private:
    ServerHome server_;
    RecipientHome recipient_;
    TempDir spool_dir_{"mdcrypt-spool-"};
    TempDir rnp_home_{"mdcrypt-rnp-"};
    GpgmeEncryptor encryptor_;
    std::string last_decrypted_;
};

}  // namespace

TEST_CASE("round trip: plain text without MIME headers") {
    const std::string message = sample("plain_no_mime.eml");
    REQUIRE(count_fields(parse_header_block(message).fields, "Content-Type") == 0);
    RoundTrip().check_all(message);
}

TEST_CASE("round trip: text/plain with 8bit UTF-8") { RoundTrip().check_all(sample("utf8_8bit.eml")); }

TEST_CASE("round trip: quoted-printable") { RoundTrip().check_all(sample("quoted_printable.eml")); }

TEST_CASE("round trip: multipart/alternative with HTML") { RoundTrip().check_all(sample("alternative_html.eml")); }

TEST_CASE("round trip: multipart/mixed with a base64 binary attachment") {
    RoundTrip().check_all(sample("mixed_attachment.eml"));
}

TEST_CASE("round trip: an empty body") {
    const std::string message = sample("empty_body.eml");
    REQUIRE(parse_header_block(message).body_offset == message.size());
    RoundTrip().check_all(message);
}

TEST_CASE("round trip: a body without a final CRLF") {
    const std::string message = sample("no_final_crlf.eml");
    REQUIRE(message.back() == '.');
    RoundTrip().check_all(message);
}

TEST_CASE("round trip: a long folded Content-Type") {
    const std::string message = sample("long_folded_content_type.eml");
    const auto fields = parse_header_block(message).fields;
    REQUIRE(count_fields(fields, "Content-Type") == 1);
    RoundTrip().check_all(message);
}

TEST_CASE("round trip: a PGP/MIME signed message still verifies after decryption") {
    RoundTrip round_trip;
    const std::string signed_boundary = "signed-boundary-7f3a";
    // RFC 3156: the signature covers the part's bytes up to, not including, the CRLF before the delimiter.
    const std::string signed_part =
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "Signed text with trailing white space=20\r\n"
        "and a line that must not change.";
    const ProcessResult signature = round_trip.recipient().gpg(
        {"--armor", "--detach-sign", "--digest-algo", "SHA256", "--local-user", key("alice").fingerprint}, signed_part);
    INFO(signature.describe());
    REQUIRE(signature.ok());

    const std::string message =
        "From: Alice <alice@example.test>\r\n"
        "To: Bob <bob@example.test>\r\n"
        "Subject: Signed\r\n"
        "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
        "Message-ID: <signed@example.test>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/signed; micalg=pgp-sha256;\r\n"
        "\tprotocol=\"application/pgp-signature\"; boundary=\"" + signed_boundary + "\"\r\n"
        "\r\n"
        "This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n"
        "--" + signed_boundary + "\r\n" + signed_part + "\r\n"
        "--" + signed_boundary + "\r\n"
        "Content-Type: application/pgp-signature; name=\"signature.asc\"\r\n"
        "Content-Description: OpenPGP digital signature\r\n"
        "\r\n" + to_crlf(signature.out) +
        "--" + signed_boundary + "--\r\n";

    // A signed message is a cryptographic layer: header protection must leave it alone.
    const std::vector<HeaderField> fields = parse_header_block(message).fields;
    CHECK_FALSE(applies_header_protection(fields, RewriteOptions{}));
    round_trip.check(message, "bob", RewriteOptions{});
    const std::string& decrypted = round_trip.last_decrypted();

    // Take the signed part and the signature out of the decrypted entity and verify them with gpg.
    const std::string open_delimiter = "\r\n--" + signed_boundary + "\r\n";
    const auto first = decrypted.find(open_delimiter);
    REQUIRE(first != std::string::npos);
    const auto start = first + open_delimiter.size();
    const auto second = decrypted.find(open_delimiter, start);
    REQUIRE(second != std::string::npos);
    const std::string signed_bytes = decrypted.substr(start, second - start);
    CHECK(signed_bytes == signed_part);
    const auto sig_begin = decrypted.find("-----BEGIN PGP SIGNATURE-----", second);
    const auto sig_end = decrypted.find("-----END PGP SIGNATURE-----", second);
    REQUIRE(sig_begin != std::string::npos);
    REQUIRE(sig_end != std::string::npos);

    TempDir dir;
    write_private_file(dir.path() / "signed-part", signed_bytes);
    write_private_file(dir.path() / "signature.asc",
                       decrypted.substr(sig_begin, sig_end - sig_begin + std::string("-----END PGP SIGNATURE-----").size()) +
                           "\r\n");
    const ProcessResult verified = round_trip.server().gpg(
        {"--status-fd", "1", "--verify", (dir.path() / "signature.asc").string(), (dir.path() / "signed-part").string()});
    INFO(verified.describe());
    CHECK(verified.ok());
    CHECK_THAT(verified.out, Catch::Contains("[GNUPG:] VALIDSIG") && Catch::Contains(key("alice").fingerprint));
}
