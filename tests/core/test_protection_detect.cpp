#include "core/protection_detect.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "core/header.hpp"
#include "test_files.hpp"

using namespace mdcrypt;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(MDCRYPT_TEST_DATA) / "protected";

Protection detect_message(std::string_view message) {
    const ParsedHeader parsed = parse_header_block(message);
    return detect_protection(parsed.fields, message.substr(parsed.body_offset), true);
}

std::vector<fs::path> messages_in(const std::string& sub) {
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(kData / sub))
        if (entry.path().extension() == ".eml") out.push_back(entry.path());
    std::sort(out.begin(), out.end());
    return out;
}

ProtectionKind kind_from_name(const std::string& name) {
    if (name.rfind("pgp-mime-", 0) == 0) return ProtectionKind::PgpMime;
    if (name.rfind("exchange-", 0) == 0) return ProtectionKind::PgpMimeExchange;
    if (name.rfind("inline-", 0) == 0) return ProtectionKind::PgpInline;
    if (name.rfind("smime-", 0) == 0) return ProtectionKind::Smime;
    FAIL("encrypted/" << name << " does not start with a known kind");
    return ProtectionKind::None;
}

std::string base64(std::string_view bytes) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const auto n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
        for (int s : {18, 12, 6, 0}) out.push_back(alphabet[(n >> s) & 63]);
    }
    if (i + 1 == bytes.size()) {
        const auto n = static_cast<unsigned char>(bytes[i]) << 16;
        out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], '=', '='};
    } else if (i + 2 == bytes.size()) {
        const auto n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
        out += {alphabet[(n >> 18) & 63], alphabet[(n >> 12) & 63], alphabet[(n >> 6) & 63], '='};
    }
    std::string wrapped;
    for (std::size_t at = 0; at < out.size(); at += 64) wrapped += out.substr(at, 64) + "\r\n";
    return wrapped;
}

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) out.push_back(static_cast<char>(v));
    return out;
}

// A PGP/MIME message around the given OpenPGP packets (no checksum line: it is optional).
std::string pgp_mime_with_packets(std::string_view packets, std::string_view boundary = "b") {
    const std::string b(boundary);
    return "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"" + b + "\"\r\n\r\n"
           "--" + b + "\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n"
           "--" + b + "\r\nContent-Type: application/octet-stream\r\n\r\n"
           "-----BEGIN PGP MESSAGE-----\r\n\r\n" + base64(packets) + "-----END PGP MESSAGE-----\r\n"
           "\r\n--" + b + "--\r\n";
}

// Packets with just enough of a body to carry a version octet.
const std::string kPkeskV3 = bytes({0x84, 0x0C, 0x03, 1, 2, 3, 4, 5, 6, 7, 8, 0x12, 0xAA, 0xBB});  // old format
const std::string kSkeskV4 = bytes({0xC3, 0x04, 0x04, 0x09, 0x03, 0x08});                           // new format
// New format, a partial body length of 2^1 octets, then a final one-octet length of 2.
const std::string kSeipdV1Partial = bytes({0xD2, 0xE1, 0x01, 0x55, 0x02, 0xAA, 0xBB});
const std::string kAeadV1 = bytes({0xD4, 0x03, 0x01, 0x09, 0x02});
const std::string kLiteral = bytes({0xCB, 0x08, 'b', 0x00, 0, 0, 0, 0, 'h', 'i'});
const std::string kCompressed = bytes({0xA3, 0x01, 0x78, 0x9C});  // old format, indeterminate length

}  // namespace

TEST_CASE("every real encrypted message made with gpg and openssl is detected as what it is", "[protection_detect]") {
    const auto files = messages_in("encrypted");
    REQUIRE(files.size() >= 10);
    for (const auto& path : files) {
        const std::string name = path.filename().string();
        SECTION(name) {
            const Protection p = detect_message(mdcrypt::testing::read_file(path));
            INFO(p.detail);
            CHECK(p.kind == kind_from_name(name));
        }
    }
}

TEST_CASE("lookalikes of encrypted mail are not protected, so they get encrypted", "[protection_detect]") {
    const auto files = messages_in("lookalike");
    REQUIRE(files.size() >= 20);
    for (const auto& path : files) {
        SECTION(path.filename().string()) {
            const Protection p = detect_message(mdcrypt::testing::read_file(path));
            INFO(p.detail);
            CHECK(p.kind == ProtectionKind::None);
            CHECK_FALSE(p.detail.empty());  // the log says why
        }
    }
}

TEST_CASE("signed-only mail is not protected, so it gets encrypted", "[protection_detect]") {
    const auto files = messages_in("signed");
    REQUIRE(files.size() >= 5);
    for (const auto& path : files) {
        SECTION(path.filename().string()) {
            CHECK(detect_message(mdcrypt::testing::read_file(path)).kind == ProtectionKind::None);
        }
    }
}

TEST_CASE("the log reason names what was wrong with a lookalike payload", "[protection_detect]") {
    CHECK_THAT(detect_message(mdcrypt::testing::read_file(kData / "lookalike" / "encrypted-holding-esk-then-literal.eml")).detail,
               Catch::Contains("followed by tag 11"));
    CHECK_THAT(detect_message(mdcrypt::testing::read_file(kData / "lookalike" / "smime-signed-data-labelled-enveloped.eml")).detail,
               Catch::Contains("signed-data"));
}

TEST_CASE("OpenPGP packet headers in old and new format (RFC 9580 section 4.2)", "[protection_detect]") {
    auto detected = [](const std::string& packets) { return detect_message(pgp_mime_with_packets(packets)).is_protected(); };

    SECTION("session key packets followed by encrypted data are an encrypted message") {
        CHECK(detected(kPkeskV3 + kSeipdV1Partial));
        CHECK(detected(kSkeskV4 + kSeipdV1Partial));
        CHECK(detected(kPkeskV3 + kSkeskV4 + kPkeskV3 + kAeadV1));
        CHECK(detected(kPkeskV3 + bytes({0xC9, 0x02, 0x11, 0x22})));  // legacy SED, tag 9
        CHECK(detected(kSkeskV4 + bytes({0xD2, 0x03, 0x02, 0x09, 0x02})));  // SEIPD v2 (RFC 9580)
    }
    SECTION("two-octet and five-octet lengths of a session key packet are followed") {
        std::string pkesk_two = bytes({0xC1, 0xC0, 0x00, 0x03});  // (0xC0 - 192) * 256 + 0 + 192 = 192 octets
        pkesk_two += std::string(191, '\x01');
        CHECK(detected(pkesk_two + kSeipdV1Partial));
        std::string pkesk_five = bytes({0xC1, 0xFF, 0x00, 0x00, 0x00, 0x05, 0x06, 1, 2, 3, 4});
        CHECK(detected(pkesk_five + kSeipdV1Partial));
        // The same five-octet header claiming more bytes than there are.
        CHECK_FALSE(detected(bytes({0xC1, 0xFF, 0x00, 0x10, 0x00, 0x00, 0x06, 1, 2}) + kSeipdV1Partial));
    }
    SECTION("the encrypted data packet must end the message") {
        CHECK(detected(kPkeskV3 + bytes({0xD2, 0xE1, 0x01, 0x55, 0xE0, 0x66, 0xC0, 0x00}) + std::string(192, 'c')));
        CHECK_FALSE(detected(kPkeskV3 + kSeipdV1Partial + kLiteral));  // plaintext after the ciphertext
        CHECK_FALSE(detected(kPkeskV3 + kAeadV1 + "x"));
        CHECK_FALSE(detected(kPkeskV3 + bytes({0xD2, 0x10, 0x01, 0x02})));  // 16 octets announced, 2 there
        CHECK_FALSE(detected(kPkeskV3 + bytes({0xD2, 0xE1, 0x01, 0x55})));  // partial length without an end
        CHECK(detected(kPkeskV3 + bytes({0xA7, 0x01, 0x02, 0x03})));  // old format, indeterminate: to the end
    }
    SECTION("anything but encrypted data after the session keys is not") {
        CHECK_FALSE(detected(kPkeskV3 + kLiteral));
        CHECK_FALSE(detected(kPkeskV3 + kCompressed));
        CHECK_FALSE(detected(kPkeskV3));  // nothing after the session key
        CHECK_FALSE(detected(kPkeskV3 + bytes({0x88, 0x02, 0x04, 0x00})));  // one-pass signature
    }
    SECTION("a message that does not start with a session key packet is not") {
        CHECK_FALSE(detected(kSeipdV1Partial));
        CHECK_FALSE(detected(kLiteral));
        CHECK_FALSE(detected(bytes({0xCA, 0x03, 'P', 'G', 'P'}) + kPkeskV3 + kSeipdV1Partial));  // marker first
        CHECK_FALSE(detected(bytes({0x00, 0x0C, 0x03})));  // bit 7 clear: not a packet
    }
    SECTION("malformed session key packets are not") {
        CHECK_FALSE(detected(bytes({0xC1, 0xE1, 0x03, 0x00}) + kSeipdV1Partial));  // partial length
        CHECK_FALSE(detected(bytes({0x87, 0x03, 0x00}) + kSeipdV1Partial));      // old format, indeterminate
        CHECK_FALSE(detected(bytes({0xC1, 0x02, 0x07, 0x00}) + kSeipdV1Partial));  // unknown version 7
        CHECK_FALSE(detected(bytes({0xC3, 0x02, 0x03, 0x00}) + kSeipdV1Partial));  // SKESK version 3
        CHECK_FALSE(detected(kPkeskV3 + bytes({0xD2, 0x01, 0x05})));              // SEIPD version 5
    }
}

TEST_CASE("limits: boundary length, parts, nesting", "[protection_detect]") {
    const std::string packets = kPkeskV3 + kSeipdV1Partial;
    SECTION("a 70-character boundary is read, a 71-character one is not") {
        CHECK(detect_message(pgp_mime_with_packets(packets, std::string(kMaxBoundaryBytes, 'x'))).is_protected());
        CHECK_FALSE(detect_message(pgp_mime_with_packets(packets, std::string(kMaxBoundaryBytes + 1, 'x'))).is_protected());
    }
    const std::string armored = "-----BEGIN PGP MESSAGE-----\r\n\r\n" + base64(packets) + "-----END PGP MESSAGE-----\r\n";
    auto inline_tree = [&](int levels) {  // multipart/mixed nested `levels` deep around one inline text
        std::string message = "Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n";
        std::string closing;
        for (int i = 1; i < levels; ++i) {
            message += "--b" + std::to_string(i - 1) + "\r\nContent-Type: multipart/mixed; boundary=\"b" + std::to_string(i) + "\"\r\n\r\n";
            closing = "--b" + std::to_string(i - 1) + "--\r\n" + closing;
        }
        message += "--b" + std::to_string(levels - 1) + "\r\nContent-Type: text/plain\r\n\r\n" + armored + "--b" +
                   std::to_string(levels - 1) + "--\r\n";
        return message + closing;
    };
    SECTION("inline OpenPGP nested up to the depth limit is read, deeper is not") {
        CHECK(detect_message(inline_tree(1)).kind == ProtectionKind::PgpInline);
        CHECK(detect_message(inline_tree(kMaxMimeDepth)).kind == ProtectionKind::PgpInline);
        CHECK_FALSE(detect_message(inline_tree(kMaxMimeDepth + 1)).is_protected());
    }
    SECTION("more parts than the limit are not read") {
        auto with_parts = [&](std::size_t n) {
            std::string message = "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n";
            for (std::size_t i = 0; i < n; ++i) message += "--b\r\nContent-Type: text/plain\r\n\r\n" + armored;
            return message + "--b--\r\n";
        };
        CHECK(detect_message(with_parts(kMaxInspectedParts)).is_protected());
        CHECK_FALSE(detect_message(with_parts(kMaxInspectedParts + 1)).is_protected());
    }
    SECTION("a control part larger than its limit is not read") {
        const std::string message = pgp_mime_with_packets(packets);
        const auto at = message.find("Version: 1");
        CHECK(detect_message(message).is_protected());
        CHECK_FALSE(
            detect_message(message.substr(0, at) + std::string(kMaxCleartextBytes, 'x') + message.substr(at)).is_protected());
    }
}

TEST_CASE("a body larger than the inspection limit is judged on its first bytes", "[protection_detect]") {
    // An encrypted data packet announcing 3 MiB (five-octet length); 21 octets in all, so the base64
    // has no padding and the filler below continues it.
    const std::string small = pgp_mime_with_packets(kPkeskV3 + bytes({0xD2, 0xFF, 0x00, 0x30, 0x00, 0x00, 0x01}));
    const ParsedHeader parsed = parse_header_block(small);
    const std::string body = small.substr(parsed.body_offset);
    const auto end = body.find("-----END");

    SECTION("an encrypted payload that goes on past the limit is still detected") {
        std::string filler;
        while (filler.size() < 2 * kMaxInspectedBodyBytes) filler += std::string(64, 'A') + "\r\n";
        const std::string big = body.substr(0, end) + filler + body.substr(end);
        CHECK(detect_protection(parsed.fields, big, true).kind == ProtectionKind::PgpMime);
        // The same prefix presented as the whole body lacks its end: not protected.
        CHECK_FALSE(detect_protection(parsed.fields, std::string_view(big).substr(0, kMaxInspectedBodyBytes), true).is_protected());
    }
    SECTION("structure that starts after the limit is not looked for") {
        const std::string preamble(kMaxInspectedBodyBytes, 'p');
        CHECK_FALSE(detect_protection(parsed.fields, preamble + "\r\n" + body, true).is_protected());
    }
}

TEST_CASE("Content-Type parameters cannot make a reader split the body another way", "[protection_detect]") {
    const std::string genuine = pgp_mime_with_packets(kPkeskV3 + kSeipdV1Partial);
    const std::string head = "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"";
    auto with_content_type = [&](const std::string& value) { return "Content-Type: " + value + genuine.substr(head.size()); };
    REQUIRE(genuine.rfind(head, 0) == 0);
    CHECK(detect_message(genuine).is_protected());
    CHECK_FALSE(detect_message(with_content_type("multipart/encrypted; boundary=\"b\"; boundary=\"c\"")).is_protected());
    CHECK_FALSE(detect_message(with_content_type("multipart/encrypted; boundary*0=\"b\"; boundary=\"b\"")).is_protected());
    CHECK_FALSE(detect_message(with_content_type("multipart/encrypted; boundary=\"b")).is_protected());  // unterminated
    CHECK_FALSE(detect_message(with_content_type("multipart/signed; protocol=\"application/pgp-encrypted\"; boundary=\"b\"")).is_protected());
    CHECK_FALSE(detect_message(with_content_type("text/plain; boundary=\"b\"")).is_protected());
    CHECK_FALSE(detect_message("X-Content-Type: multipart/encrypted\r\n" + genuine.substr(genuine.find("\r\n") + 2)).is_protected());
}

TEST_CASE("the boundary rule: one boundary parameter, and the word nowhere else in the value", "[protection_detect]") {
    const std::string genuine = pgp_mime_with_packets(kPkeskV3 + kSeipdV1Partial);
    const std::string head = "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"";
    auto with_content_type = [&](const std::string& value) { return "Content-Type: " + value + genuine.substr(head.size()); };
    REQUIRE(detect_message(genuine).is_protected());
    CHECK(detect_message(with_content_type("multipart/encrypted; BOUNDARY=b")).is_protected());
    CHECK(detect_message(with_content_type("multipart/encrypted; boundary*0=b")).is_protected());
    // A continuation set is one value in two segments: a reader without RFC 2231 sees two other names.
    CHECK_FALSE(detect_message(with_content_type("multipart/encrypted; boundary*0=\"\"; boundary*1=b")).is_protected());
    // Readers blind to comments or quotes (mimetic splits on every ';') find a second boundary here.
    CHECK_FALSE(detect_message(with_content_type("multipart/encrypted; boundary=b (; boundary=c)")).is_protected());
    CHECK_FALSE(detect_message(with_content_type("multipart/encrypted; x=\"; boundary=c\"; boundary=b")).is_protected());
    CHECK_FALSE(detect_message(with_content_type("multipart/encrypted; x-boundary=c; boundary=b")).is_protected());
    // The price: a boundary that contains the word is not read, and such a message is encrypted again.
    const std::string named = pgp_mime_with_packets(kPkeskV3 + kSeipdV1Partial, "boundary_1");
    CHECK_FALSE(detect_message(named).is_protected());
    CHECK(detect_message(pgp_mime_with_packets(kPkeskV3 + kSeipdV1Partial, "bound_1")).is_protected());
}

TEST_CASE("an S/MIME file name is read from Content-Disposition like any other parameter", "[protection_detect]") {
    const std::string message =
        mdcrypt::testing::read_file(kData / "encrypted" / "smime-p7m-octet-stream.eml");
    const std::string type_line = "Content-Type: application/octet-stream; name=\"smime.p7m\"\r\n";
    const std::string disposition_line = "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n";
    REQUIRE(message.find(type_line) != std::string::npos);
    REQUIRE(message.find(disposition_line) != std::string::npos);
    auto with_disposition = [&](const std::string& value) {
        std::string m = message;
        m.replace(m.find(type_line), type_line.size(), "Content-Type: application/octet-stream\r\n");
        m.replace(m.find(disposition_line), disposition_line.size(), value.empty() ? "" : "Content-Disposition: " + value + "\r\n");
        return m;
    };
    CHECK(detect_message(message).is_protected());
    CHECK(detect_message(with_disposition("attachment; filename=\"smime.p7m\"")).is_protected());
    CHECK(detect_message(with_disposition("Attachment (x); FILENAME=SMIME.P7M")).is_protected());
    CHECK(detect_message(with_disposition("attachment; filename*=UTF-8''smime%2Ep7m")).is_protected());
    CHECK_FALSE(detect_message(with_disposition("")).is_protected());
    CHECK_FALSE(detect_message(with_disposition("attachment; filename=\"smime.p7m")).is_protected());  // unterminated
    CHECK_FALSE(detect_message(with_disposition("; filename=smime.p7m")).is_protected());                 // no type
    CHECK_FALSE(detect_message(with_disposition("attachment; filename=smime.txt")).is_protected());
}

TEST_CASE("delimiter lookalikes and unterminated multiparts are not protected", "[protection_detect]") {
    const std::string genuine = pgp_mime_with_packets(kPkeskV3 + kSeipdV1Partial);
    SECTION("a line starting with the delimiter followed by other text") {
        std::string message = genuine;
        message.insert(message.find("--b\r\nContent-Type: application/octet-stream"), "--bogus\r\n");
        CHECK_FALSE(detect_message(message).is_protected());
    }
    SECTION("a missing close delimiter") {
        CHECK_FALSE(detect_message(genuine.substr(0, genuine.rfind("--b--"))).is_protected());
    }
    SECTION("the same message with bare LF line ends is still read") {
        std::string lf;
        for (char c : genuine)
            if (c != '\r') lf.push_back(c);
        CHECK(detect_message(lf).is_protected());
    }
}

TEST_CASE("cleartext a reader might show next to the ciphertext is bounded", "[protection_detect]") {
    const std::string genuine = pgp_mime_with_packets(kPkeskV3 + kSeipdV1Partial);
    const std::string text(kMaxCleartextBytes + 1, 't');
    const auto first_delimiter = genuine.find("--b\r\n");
    const auto armor_blank_line = genuine.find("-----BEGIN PGP MESSAGE-----\r\n") + 29;
    REQUIRE(detect_message(genuine).is_protected());
    SECTION("preamble") {
        CHECK_FALSE(detect_message(genuine.substr(0, first_delimiter) + text + "\r\n" + genuine.substr(first_delimiter)).is_protected());
        CHECK(detect_message(genuine.substr(0, first_delimiter) + std::string(5000, ' ') + "\r\n" + genuine.substr(first_delimiter)).is_protected());
    }
    SECTION("epilogue") {
        CHECK_FALSE(detect_message(genuine + text).is_protected());
        CHECK(detect_message(genuine + "\r\n\r\n").is_protected());
    }
    SECTION("armor header lines") {
        CHECK(detect_message(genuine.substr(0, armor_blank_line) + "Comment: short\r\n" + genuine.substr(armor_blank_line)).is_protected());
        CHECK_FALSE(detect_message(genuine.substr(0, armor_blank_line) + "Comment: " + text + "\r\n" + genuine.substr(armor_blank_line))
                        .is_protected());
    }
    SECTION("a checksum line is '=' and four base64 characters, nothing else") {
        const auto end = genuine.find("-----END");
        CHECK(detect_message(genuine.substr(0, end) + "=njUN\r\n" + genuine.substr(end)).is_protected());
        CHECK_FALSE(detect_message(genuine.substr(0, end) + "=The meeting moved\r\n" + genuine.substr(end)).is_protected());
    }
}
