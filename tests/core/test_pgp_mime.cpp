#include "core/pgp_mime.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/content_type.hpp"
#include "core/edits.hpp"
#include "core/header.hpp"
#include "core/text.hpp"
#include "fake_encryptor.hpp"
#include "test_files.hpp"

using namespace mdcrypt;
namespace fs = std::filesystem;

namespace {

struct Rewritten {
    std::string message;
    std::string plaintext;  // what the encryptor was given
    std::vector<HeaderField> fields;
    std::string body;
};

SpoolSettings temp_spool() { return {fs::temp_directory_path(), 1 << 20}; }

RewriteOptions no_hp() {
    RewriteOptions o;
    o.header_protection = false;
    return o;
}
const RewriteOptions kHp{};  // the default: header protection on, nothing stripped
const RewriteOptions kNoHp = no_hp();

// The RFC 2045 default as header protection writes it: hp="cipher" and protected-headers="v1" would
// make the line 79 characters, so the second goes on a folded line of its own.
const std::string kDefaultMarked =
    "Content-Type: text/plain; charset=us-ascii; hp=\"cipher\";\r\n\tprotected-headers=\"v1\"\r\n";

Rewritten rewrite(const std::string& input, const RewriteOptions& options,
                  BoundaryGenerator boundaries = [] { return std::string("golden.boundary_1"); }) {
    const ParsedHeader parsed = parse_header_block(input);
    StringSource body(std::string_view(input).substr(parsed.body_offset));
    testing::FakeEncryptor encryptor;
    const std::vector<std::string> keys{"AAAABBBBCCCCDDDDEEEEFFFF0000111122223333"};
    EncryptedMessage encrypted =
        encrypt_message(parsed.fields, body, keys, encryptor, temp_spool(), boundaries, options);
    Rewritten r;
    r.fields = apply_header_edits(parsed.fields, encrypted.header_edits);
    for (const auto& f : r.fields) r.message += serialize_field(f);
    r.message += "\r\n";
    auto reader = encrypted.body->reader();
    r.body = read_all(*reader);
    r.message += r.body;
    r.plaintext = encryptor.last_plaintext;
    CHECK(encryptor.last_fingerprints == keys);
    return r;
}

}  // namespace

// X.in.eml is rewritten twice: without header protection into X.out.eml, with it into X.hp.out.eml.
TEST_CASE("rewrite output matches the golden files byte for byte", "[pgp_mime][golden]") {
    const fs::path dir = fs::path(MDCRYPT_TEST_DATA) / "golden";
    const char* update = std::getenv("MDCRYPT_UPDATE_GOLDEN");
    int compared = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.size() < 7 || name.substr(name.size() - 7) != ".in.eml") continue;
        const std::string stem = name.substr(0, name.size() - 7);
        for (const bool hp : {false, true}) {
            const fs::path expected_path = dir / (stem + (hp ? ".hp.out.eml" : ".out.eml"));
            SECTION(expected_path.filename().string()) {
                const Rewritten r = rewrite(mdcrypt::testing::read_file(entry.path()), hp ? kHp : kNoHp);
                if (update) std::ofstream(expected_path, std::ios::binary) << r.message;
                CHECK(r.message == mdcrypt::testing::read_file(expected_path));
            }
            ++compared;
        }
    }
    CHECK(compared >= 14);
}

TEST_CASE("the encrypted entity is the original Content-* fields and body, untouched", "[pgp_mime]") {
    const std::string input = mdcrypt::testing::read_file(fs::path(MDCRYPT_TEST_DATA) / "golden" / "multipart-folded.in.eml");
    const ParsedHeader parsed = parse_header_block(input);
    const Rewritten r = rewrite(input, kNoHp);
    const std::string expected =
        "Content-Type: multipart/alternative;\r\n boundary=\"----=_Part_12_345.678\";\r\n\tcharset=utf-8\r\n"
        "Content-Language: en\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n" +
        input.substr(parsed.body_offset);
    CHECK(r.plaintext == expected);
}

TEST_CASE("a message without Content-Type gets the RFC 2045 default inside", "[pgp_mime]") {
    const Rewritten r = rewrite("From: a@b.example\r\nSubject: x\r\n\r\nhello\r\n", kNoHp);
    CHECK(r.plaintext == "Content-Type: text/plain; charset=us-ascii\r\n\r\nhello\r\n");
}

TEST_CASE("outer header is RFC 3156 and every other field stays in place", "[pgp_mime]") {
    const std::string input = mdcrypt::testing::read_file(fs::path(MDCRYPT_TEST_DATA) / "golden" / "text-qp.in.eml");
    const ParsedHeader before = parse_header_block(input);
    const Rewritten r = rewrite(input, kNoHp);

    CHECK(count_fields(r.fields, "MIME-Version") == 1);
    CHECK(first_value(r.fields, "MIME-Version") == "1.0");
    CHECK(count_fields(r.fields, "Content-Type") == 1);
    CHECK(count_fields(r.fields, "Content-Transfer-Encoding") == 0);
    CHECK(first_value(r.fields, "Content-Type") ==
          "multipart/encrypted;\tprotocol=\"application/pgp-encrypted\";\tboundary=\"golden.boundary_1\"");

    std::vector<HeaderField> others_before, others_after;
    for (const auto& f : before.fields)
        if (!is_content_field(f.name) && !iequals(f.name, "MIME-Version")) others_before.push_back(f);
    for (const auto& f : r.fields)
        if (!is_content_field(f.name) && !iequals(f.name, "MIME-Version")) others_after.push_back(f);
    REQUIRE(others_after.size() == others_before.size());
    for (std::size_t i = 0; i < others_before.size(); ++i) {
        CHECK(others_after[i].name == others_before[i].name);
        CHECK(others_after[i].raw_value == others_before[i].raw_value);
    }
}

TEST_CASE("the body has the two RFC 3156 parts around CRLF armor", "[pgp_mime]") {
    const Rewritten r = rewrite("Subject: x\r\n\r\nhi\r\n", kHp);
    const std::string& b = r.body;
    const auto first = b.find("--golden.boundary_1\r\nContent-Type: application/pgp-encrypted\r\n");
    const auto version = b.find("\r\n\r\nVersion: 1\r\n", first);
    const auto second = b.find("--golden.boundary_1\r\nContent-Type: application/octet-stream", version);
    const auto armor = b.find("\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n", second);
    const auto end = b.find("-----END PGP MESSAGE-----\r\n", armor);
    const auto close = b.find("\r\n--golden.boundary_1--\r\n", end);
    CHECK(first != std::string::npos);
    CHECK(version != std::string::npos);
    CHECK(second != std::string::npos);
    CHECK(armor != std::string::npos);
    CHECK(end != std::string::npos);
    CHECK(close != std::string::npos);
    CHECK(b.size() == close + std::string("\r\n--golden.boundary_1--\r\n").size());
    // No bare LF anywhere: the armor was converted to CRLF.
    for (std::size_t i = 0; i < b.size(); ++i)
        if (b[i] == '\n') REQUIRE((i > 0 && b[i - 1] == '\r'));
}

TEST_CASE("a boundary found in the ciphertext is never used", "[pgp_mime]") {
    const ParsedHeader parsed = parse_header_block("Subject: x\r\n\r\nhi\r\n");
    testing::FakeEncryptor encryptor;
    encryptor.extra_armor_line = "--taken.boundary and more";
    int calls = 0;
    BoundaryGenerator gen = [&] { return std::string(++calls == 1 ? "taken.boundary" : "free.boundary"); };
    StringSource body("hi\r\n");
    const std::vector<std::string> keys{"FPR"};
    const EncryptedMessage m = encrypt_message(parsed.fields, body, keys, encryptor, temp_spool(), gen, kHp);
    CHECK(m.body->boundary() == "free.boundary");
    CHECK(calls == 2);

    StringSource body2("hi\r\n");
    BoundaryGenerator always_taken = [] { return std::string("taken.boundary"); };
    CHECK_THROWS_AS(encrypt_message(parsed.fields, body2, keys, encryptor, temp_spool(), always_taken, kHp), EncryptError);
}

TEST_CASE("armor written in any pieces is copied with CRLF and its dash lines are seen across the cuts", "[pgp_mime]") {
    // An engine writes as it likes: a byte at a time, a CR at the end of one write and its LF at the
    // start of the next, a dash line cut in the middle. The copy must not depend on the cuts.
    class PiecewiseEncryptor final : public Encryptor {
    public:
        explicit PiecewiseEncryptor(std::size_t piece) : piece_(piece) {}
        void encrypt_to(ByteSource&, std::span<const EncryptionKey>, ByteSink& armored) override {
            const std::string text =
                "-----BEGIN PGP MESSAGE-----\r\n\r\nhQEMA1\n--taken.boundary and more\r\nx\ry\n=AAAA\n"
                "-----END PGP MESSAGE-----\r\n";
            for (std::size_t at = 0; at < text.size(); at += piece_) armored.write(std::string_view(text).substr(at, piece_));
        }

    private:
        std::size_t piece_;
    };
    const ParsedHeader parsed = parse_header_block("Subject: x\r\n\r\nhi\r\n");
    const std::vector<std::string> keys{"FPR"};
    std::string first_body;
    for (const std::size_t piece : {std::size_t{1000}, std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}}) {
        CAPTURE(piece);
        PiecewiseEncryptor encryptor(piece);
        int calls = 0;
        BoundaryGenerator gen = [&] { return std::string(++calls == 1 ? "taken.boundary" : "free.boundary"); };
        StringSource body("hi\r\n");
        const EncryptedMessage m = encrypt_message(parsed.fields, body, keys, encryptor, temp_spool(), gen, kHp);
        CHECK(m.body->boundary() == "free.boundary");
        auto reader = m.body->reader();
        const std::string out = read_all(*reader);
        CHECK_THAT(out, Catch::Contains("hQEMA1\r\n--taken.boundary and more\r\nx\ry\r\n=AAAA\r\n-----END PGP MESSAGE-----\r\n"));
        if (first_body.empty()) first_body = out;
        CHECK(out == first_body);
    }
}

TEST_CASE("random boundaries are fresh, RFC 2046-sized, and outside the armor alphabet", "[pgp_mime]") {
    const BoundaryGenerator gen = random_boundary_generator();
    const std::string a = gen(), b = gen();
    CHECK(a != b);
    CHECK(a.size() <= 70);
    CHECK(a.find('.') != std::string::npos);
}

TEST_CASE("encryption failures propagate and no edits exist without ciphertext", "[pgp_mime]") {
    const ParsedHeader parsed = parse_header_block("Subject: x\r\n\r\nhi\r\n");
    testing::FakeEncryptor encryptor;
    encryptor.fail = true;
    StringSource body("hi\r\n");
    const std::vector<std::string> keys{"FPR"};
    CHECK_THROWS_AS(encrypt_message(parsed.fields, body, keys, encryptor, temp_spool(), random_boundary_generator(), kHp),
                    EncryptError);
    const std::vector<std::string> none;
    CHECK_THROWS_AS(encrypt_message(parsed.fields, body, none, encryptor, temp_spool(), random_boundary_generator(), kHp),
                    EncryptError);
}

TEST_CASE("a large body goes through a disk spool and comes back whole", "[pgp_mime]") {
    std::string body_text;
    for (int i = 0; i < 20000; ++i) body_text += "line " + std::to_string(i) + " of a long body\r\n";
    const ParsedHeader parsed = parse_header_block("Subject: big\r\n\r\n");
    testing::FakeEncryptor encryptor;
    StringSource body(body_text);
    const std::vector<std::string> keys{"FPR"};
    const EncryptedMessage m = encrypt_message(parsed.fields, body, keys, encryptor, SpoolSettings{fs::temp_directory_path(), 4096},
                                               random_boundary_generator(), kHp);
    CHECK(encryptor.last_plaintext ==
          "Subject: big\r\nHP-Outer: Subject: [...]\r\n" + kDefaultMarked + "\r\n" + body_text);
    auto reader = m.body->reader();
    const std::string out = read_all(*reader);
    CHECK(out.size() == m.body->size());
    CHECK(out.size() > 2 * body_text.size());  // hex fake armor doubles it
}

// --- RFC 9788 header protection ---

namespace {

std::string inner(const std::string& header_block, const RewriteOptions& options) {
    return inner_entity_header(parse_header_block(header_block + "\r\n").fields, options);
}

std::vector<HeaderField> outer_after(const std::string& header_block, const RewriteOptions& options) {
    const auto fields = parse_header_block(header_block + "\r\n").fields;
    return apply_header_edits(fields, outer_header_edits(fields, "B", options));
}

bool same_edits(const std::vector<HeaderEdit>& a, const std::vector<HeaderEdit>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const HeaderEdit& x, const HeaderEdit& y) {
        return x.kind == y.kind && x.name == y.name && x.index == y.index && x.raw_value == y.raw_value;
    });
}

RewriteOptions stripping(std::vector<std::string> names, bool hp = true) {
    RewriteOptions o;
    o.header_protection = hp;
    o.strip_fields = std::move(names);
    return o;
}

}  // namespace

TEST_CASE("header protection: injected fields, HP-Outer records, then the Content-* fields with hp=\"cipher\" and "
          "protected-headers=\"v1\"",
          "[pgp_mime][hp]") {
    const std::string header =
        "Received: from a.example by mx.example.test; Fri, 27 Nov 2026 10:00:00 +0000\r\n"
        "From: Bob <bob@example.net>\r\n"
        "To: alice@example.test,\r\n\tcarol@example.test\r\n"
        "Subject: lunch\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n";
    CHECK(inner(header, kHp) ==
          "Received: from a.example by mx.example.test; Fri, 27 Nov 2026 10:00:00 +0000\r\n"
          "From: Bob <bob@example.net>\r\n"
          "To: alice@example.test,\r\n\tcarol@example.test\r\n"
          "Subject: lunch\r\n"
          "Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
          "HP-Outer: Received: from a.example by mx.example.test; Fri, 27 Nov 2026 10:00:00 +0000\r\n"
          "HP-Outer: From: Bob <bob@example.net>\r\n"
          "HP-Outer: To: alice@example.test,\r\n\tcarol@example.test\r\n"
          "HP-Outer: Subject: [...]\r\n"
          "HP-Outer: Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
          "Content-Type: text/plain; charset=utf-8; hp=\"cipher\"; protected-headers=\"v1\"\r\n"
          "Content-Transfer-Encoding: 8bit\r\n"
          "\r\n");
    // Without header protection the entity header is exactly what it always was.
    CHECK(inner(header, kNoHp) == "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
}

TEST_CASE("header protection: the outer Subject becomes exactly [...], every other field stays in place",
          "[pgp_mime][hp]") {
    const std::string input = mdcrypt::testing::read_file(fs::path(MDCRYPT_TEST_DATA) / "golden" / "text-qp.in.eml");
    const ParsedHeader before = parse_header_block(input);
    const Rewritten r = rewrite(input, kHp);
    CHECK(count_fields(r.fields, "Subject") == 1);
    std::vector<HeaderField> others_before, others_after;
    for (const auto& f : before.fields)
        if (!is_content_field(f.name) && !iequals(f.name, "MIME-Version")) others_before.push_back(f);
    for (const auto& f : r.fields)
        if (!is_content_field(f.name) && !iequals(f.name, "MIME-Version")) others_after.push_back(f);
    REQUIRE(others_after.size() == others_before.size());
    for (std::size_t i = 0; i < others_before.size(); ++i) {
        CHECK(others_after[i].name == others_before[i].name);
        if (iequals(others_before[i].name, "Subject"))
            CHECK(others_after[i].raw_value == " [...]");
        else
            CHECK(others_after[i].raw_value == others_before[i].raw_value);
    }
    // Inside, the real Subject, byte for byte, and the original Content-* fields and body after the hp marker.
    CHECK(r.plaintext.find("\r\nSubject: =?UTF-8?Q?caf=C3=A9?=\r\n") != std::string::npos);
    CHECK(r.plaintext.find("HP-Outer: Subject: [...]\r\n") != std::string::npos);
    const std::string tail = "Content-Type: text/plain; charset=\"utf-8\"; hp=\"cipher\"; protected-headers=\"v1\"\r\n"
                             "Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
                             input.substr(before.body_offset);
    CHECK(r.plaintext.size() > tail.size());
    CHECK(r.plaintext.substr(r.plaintext.size() - tail.size()) == tail);
}

TEST_CASE("header protection: a message without Subject gets none, inside or outside", "[pgp_mime][hp]") {
    const std::string header = "From: a@b.example\r\nTo: c@d.example\r\n";
    const std::string entity = inner(header, kHp);
    CHECK(entity ==
          "From: a@b.example\r\nTo: c@d.example\r\n"
          "HP-Outer: From: a@b.example\r\nHP-Outer: To: c@d.example\r\n" +
              kDefaultMarked + "\r\n");
    const auto fields = parse_header_block(header + "\r\n").fields;
    for (const auto& edit : outer_header_edits(fields, "B", kHp)) CHECK_FALSE(iequals(edit.name, "Subject"));
    CHECK(count_fields(outer_after(header, kHp), "Subject") == 0);
}

TEST_CASE("header protection: every Subject is obscured, an empty one too, and a folded one is copied whole",
          "[pgp_mime][hp]") {
    const std::string header = "Subject: first\r\nsubject: second,\r\n folded\r\nSUBJECT:\r\n";
    const auto outer = outer_after(header, kHp);
    REQUIRE(count_fields(outer, "Subject") == 3);
    for (const auto& f : outer)
        if (iequals(f.name, "Subject")) CHECK(f.raw_value == " [...]");
    CHECK(inner(header, kHp) ==
          "Subject: first\r\nsubject: second,\r\n folded\r\nSUBJECT:\r\n"
          "HP-Outer: Subject: [...]\r\nHP-Outer: subject: [...]\r\nHP-Outer: SUBJECT: [...]\r\n" +
              kDefaultMarked + "\r\n");
}

TEST_CASE("header protection: hp=\"cipher\" and protected-headers=\"v1\" are appended to the raw Content-Type, "
          "which otherwise stays as it was",
          "[pgp_mime][hp]") {
    SECTION("folded: on the last line") {
        CHECK(inner("Content-Type: multipart/alternative;\r\n boundary=\"b\";\r\n\tcharset=utf-8\r\n", kHp) ==
              "Content-Type: multipart/alternative;\r\n boundary=\"b\";\r\n\tcharset=utf-8; hp=\"cipher\"; "
              "protected-headers=\"v1\"\r\n\r\n");
    }
    SECTION("a trailing ';' gets no second one") {
        CHECK(inner("Content-Type: text/plain;", kHp) ==
              "Content-Type: text/plain; hp=\"cipher\"; protected-headers=\"v1\"\r\n\r\n");
        CHECK(inner("Content-Type:text/plain; ", kHp) ==
              "Content-Type:text/plain;  hp=\"cipher\"; protected-headers=\"v1\"\r\n\r\n");
    }
    SECTION("a trailing comment is kept") {
        CHECK(inner("Content-Type: text/plain (plain; text)", kHp) ==
              "Content-Type: text/plain (plain; text); hp=\"cipher\"; protected-headers=\"v1\"\r\n\r\n");
    }
    SECTION("a line that would pass 78 characters is folded before the parameter that would pass it") {
        const std::string both_fit = "Content-Type: text/plain; name=\"" + std::string(8, 'n') + "\"";
        REQUIRE(both_fit.size() + std::string("; hp=\"cipher\"; protected-headers=\"v1\"").size() == 78);
        CHECK(inner(both_fit, kHp) == both_fit + "; hp=\"cipher\"; protected-headers=\"v1\"\r\n\r\n");
        // hp="cipher" fits with the ';' that ends it: only protected-headers is folded.
        const std::string hp_fits = "Content-Type: text/plain; name=\"" + std::string(31, 'n') + "\"";
        REQUIRE(hp_fits.size() + std::string("; hp=\"cipher\";").size() == 78);
        CHECK(inner(hp_fits, kHp) == hp_fits + "; hp=\"cipher\";\r\n\tprotected-headers=\"v1\"\r\n\r\n");
        // One more and that ';' would make the line 79: both go on the folded line.
        const std::string hp_fits_alone = "Content-Type: text/plain; name=\"" + std::string(32, 'n') + "\"";
        CHECK(inner(hp_fits_alone, kHp) == hp_fits_alone + ";\r\n\thp=\"cipher\"; protected-headers=\"v1\"\r\n\r\n");
        const std::string too_long = "Content-Type: text/plain; name=\"" + std::string(33, 'n') + "\"";
        CHECK(inner(too_long, kHp) == too_long + ";\r\n\thp=\"cipher\"; protected-headers=\"v1\"\r\n\r\n");
        // On a folded value only the last line counts.
        const std::string folded = "Content-Type: text/plain;\r\n name=\"" + std::string(20, 'n') + "\"";
        CHECK(inner(folded, kHp) == folded + "; hp=\"cipher\"; protected-headers=\"v1\"\r\n\r\n");
        const std::string folded_long = "Content-Type: text/plain;\r\n name=\"" + std::string(50, 'n') + "\"";
        CHECK(inner(folded_long, kHp) == folded_long + "; hp=\"cipher\";\r\n\tprotected-headers=\"v1\"\r\n\r\n");
    }
    SECTION("every Content-Type gets them, duplicates too") {
        CHECK(inner("Content-Type: text/plain\r\ncontent-type: text/html\r\n", kHp) ==
              "Content-Type: text/plain; hp=\"cipher\"; protected-headers=\"v1\"\r\n"
              "content-type: text/html; hp=\"cipher\"; protected-headers=\"v1\"\r\n\r\n");
    }
    SECTION("a protected-headers parameter the sender wrote is kept as it is and not repeated") {
        for (const std::string content_type : {
                 "text/plain; protected-headers=\"v1\"",
                 "multipart/mixed; boundary=x;\r\n Protected-Headers = v2",
                 "text/plain; protected-headers*=''v1",
                 "text/plain;\r\n protected-headers*0=v; protected-headers*1=1",
             }) {
            CAPTURE(content_type);
            const std::string header = "Subject: s\r\nContent-Type: " + content_type + "\r\n";
            CHECK(applies_header_protection(parse_header_block(header + "\r\n").fields, kHp));
            CHECK(inner(header, kHp) == "Subject: s\r\nHP-Outer: Subject: [...]\r\nContent-Type: " + content_type +
                                            "; hp=\"cipher\"\r\n\r\n");
        }
        // Names that only begin the same way are other parameters.
        CHECK(inner("Content-Type: text/plain; protected-headers-x=1", kHp) ==
              "Content-Type: text/plain; protected-headers-x=1; hp=\"cipher\";\r\n\tprotected-headers=\"v1\"\r\n\r\n");
    }
}

TEST_CASE("header protection: the marked Content-Type keeps the sender's bytes, reads back with both markers and "
          "has no line over 78 characters that was not there before",
          "[pgp_mime][hp]") {
    for (const std::string prefix : {"text/plain; charset=utf-8; name=\"", "multipart/mixed;\r\n\tboundary=\""}) {
        for (std::size_t n = 1; n <= 70; ++n) {
            const std::string value = " " + prefix + std::string(n, 'x') + "\"";
            CAPTURE(value);
            const std::string entity = inner("Content-Type:" + value, kHp);
            const ParsedHeader parsed = parse_header_block(entity);
            REQUIRE(parsed.fields.size() == 1);
            const std::string& marked = parsed.fields[0].raw_value;
            CHECK(marked.substr(0, value.size()) == value);
            const ContentType ct = parse_content_type(unfold(marked));
            CHECK(ct.valid);
            CHECK(ct.param("hp") == "cipher");
            CHECK(ct.param("protected-headers") == "v1");
            CHECK(ct.params.size() == parse_content_type(unfold(value)).params.size() + 2);
            // Lines we wrote stay within 78. A sender's line of 78 or more is not ours to fold; it only
            // gets the ';' that ends it before our folded line.
            std::vector<std::string> sender_lines;
            const std::string sender = "Content-Type:" + value;
            for (std::size_t start = 0, end = 0; start <= sender.size(); start = end + 2) {
                end = std::min(sender.find("\r\n", start), sender.size());
                sender_lines.push_back(sender.substr(start, end - start));
            }
            for (std::size_t start = 0, end = 0; start < entity.size() - 2; start = end + 2) {
                end = entity.find("\r\n", start);
                const std::string line = entity.substr(start, end - start);
                const bool sender_long_line = std::any_of(sender_lines.begin(), sender_lines.end(), [&](const std::string& s) {
                    return s.size() >= 78 && (line == s || line == s + ";");
                });
                if (!sender_long_line) CHECK(line.size() <= 78);
            }
        }
    }
}

TEST_CASE("header protection: the decrypted entity sent again is not marked a second time", "[pgp_mime][hp]") {
    // A recipient who forwards or re-sends the decrypted entity as it is brings our markers back in; a
    // second hp would be ambiguous, so that message is encrypted without header protection.
    const std::string header = "Subject: lunch\r\nContent-Type: text/plain; charset=utf-8\r\n";
    const std::string entity = inner(header, kHp);
    const auto again = parse_header_block(entity + "hello\r\n").fields;
    CHECK_FALSE(applies_header_protection(again, kHp));
    const std::string second = inner_entity_header(again, kHp);
    CHECK(second == "Content-Type: text/plain; charset=utf-8; hp=\"cipher\"; protected-headers=\"v1\"\r\n\r\n");
}

TEST_CASE("header protection is not applied where the entity is not the Cryptographic Payload or cannot be marked",
          "[pgp_mime][hp]") {
    const std::string others = "From: a@b.example\r\nSubject: secret\r\n";
    for (const std::string content_type : {
             "multipart/signed; protocol=\"application/pgp-signature\"; micalg=pgp-sha256; boundary=x",
             "Multipart/Signed;\r\n\tboundary=x",
             "multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=x",
             "application/pkcs7-mime; smime-type=signed-data; name=smime.p7m",
             "application/x-pkcs7-mime",
             "",                                     // empty
             "garbage",                              // no subtype
             "text/plain; name=\"unterminated",      // would swallow the parameter
             "text/plain (unterminated",             // likewise
             "text/pla\"in\"",                       // not a token
             "text/plain; hp=\"clear\"",             // a second hp would be ambiguous
             "text/plain; HP = cipher",
             "text/plain; hp*0=\"cip\"; hp*1=\"her\"",  // RFC 2231 continuations are an hp too
         }) {
        CAPTURE(content_type);
        const std::string header = others + "Content-Type: " + content_type + "\r\n";
        const auto fields = parse_header_block(header + "\r\n").fields;
        CHECK_FALSE(applies_header_protection(fields, kHp));
        CHECK(inner(header, kHp) == inner(header, kNoHp));
        CHECK(same_edits(outer_header_edits(fields, "B", kHp), outer_header_edits(fields, "B", kNoHp)));
    }
    // A second Content-Type that is a layer is enough: a reader might take either.
    CHECK_FALSE(applies_header_protection(
        parse_header_block("Content-Type: text/plain\r\nContent-Type: multipart/signed; boundary=x\r\n\r\n").fields, kHp));
    // The switch itself.
    CHECK_FALSE(applies_header_protection(parse_header_block(others + "\r\n").fields, kNoHp));
    CHECK(applies_header_protection(parse_header_block(others + "\r\n").fields, kHp));
    CHECK(applies_header_protection(parse_header_block(others + "Content-Type: Text / Plain (x) ;\r\n\r\n").fields, kHp));
}

TEST_CASE("header protection: an HP-Outer field from the sender is neither copied inside nor recorded",
          "[pgp_mime][hp]") {
    const std::string header = "HP-Outer: Subject: forged\r\nSubject: real\r\n";
    CHECK(inner(header, kHp) ==
          "Subject: real\r\nHP-Outer: Subject: [...]\r\n" + kDefaultMarked + "\r\n");
    const auto outer = outer_after(header, kHp);
    REQUIRE(outer.size() == 4);  // + MIME-Version, Content-Type
    CHECK(outer[0].name == "HP-Outer");
    CHECK(outer[0].raw_value == " Subject: forged");  // outside, nothing else is rewritten
}

TEST_CASE("stripped fields are deleted outside, last first, and are not copied inside", "[pgp_mime][hp]") {
    const std::string header =
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.net;\r\n\tb=AAAA\r\n"
        "Authentication-Results: mx.example.test; dkim=pass header.d=example.net\r\n"
        "dkim-signature: v=1; d=other.example; b=BBBB\r\n"
        "From: a@b.example\r\n"
        "X-Spam: yes\r\n"
        "Subject: s\r\n"
        "Content-Type: text/plain\r\n";
    const auto fields = parse_header_block(header + "\r\n").fields;
    for (const bool hp : {true, false}) {
        CAPTURE(hp);
        const RewriteOptions options = stripping({"DKIM-Signature", "x-spam", "DKIM-SIGNATURE", "Content-Type", "MIME-Version"}, hp);
        const auto edits = outer_header_edits(fields, "B", options);
        std::vector<std::pair<std::string, int>> deletes;
        for (const auto& e : edits)
            if (e.kind == HeaderEdit::Kind::Delete) deletes.emplace_back(e.name, e.index);
        CHECK(deletes == std::vector<std::pair<std::string, int>>{{"DKIM-Signature", 2}, {"DKIM-Signature", 1}, {"x-spam", 1}});
        const auto outer = apply_header_edits(fields, edits);
        CHECK(count_fields(outer, "DKIM-Signature") == 0);
        CHECK(count_fields(outer, "X-Spam") == 0);
        CHECK(count_fields(outer, "Authentication-Results") == 1);  // stays: it says what was verified
        CHECK(count_fields(outer, "Content-Type") == 1);            // structural names in the list are ignored
        CHECK(first_value(outer, "Subject") == (hp ? "[...]" : "s"));
    }
    const std::string entity = inner(header, stripping({"DKIM-Signature", "X-Spam"}));
    CHECK(entity ==
          "Authentication-Results: mx.example.test; dkim=pass header.d=example.net\r\n"
          "From: a@b.example\r\n"
          "Subject: s\r\n"
          "HP-Outer: Authentication-Results: mx.example.test; dkim=pass header.d=example.net\r\n"
          "HP-Outer: From: a@b.example\r\n"
          "HP-Outer: Subject: [...]\r\n"
          "Content-Type: text/plain; hp=\"cipher\"; protected-headers=\"v1\"\r\n\r\n");
    // A stripped Subject is deleted, not changed as well (the edits must apply).
    const auto outer = outer_after(header, stripping({"Subject"}));
    CHECK(count_fields(outer, "Subject") == 0);
}

TEST_CASE("header protection: the entity parses back to the injected fields, one HP-Outer per field, and the body",
          "[pgp_mime][hp]") {
    const std::string input = mdcrypt::testing::read_file(fs::path(MDCRYPT_TEST_DATA) / "golden" / "hp-multi-recipients.in.eml");
    const ParsedHeader original = parse_header_block(input);
    const Rewritten r = rewrite(input, kHp);
    const ParsedHeader entity = parse_header_block(r.plaintext);
    CHECK(entity.defects.empty());
    CHECK(r.plaintext.substr(entity.body_offset) == input.substr(original.body_offset));

    std::vector<HeaderField> injected, records;
    for (const auto& f : entity.fields) {
        if (iequals(f.name, "HP-Outer")) records.push_back(f);
        else if (!is_content_field(f.name)) injected.push_back(f);
    }
    std::vector<HeaderField> expected_injected;
    for (const auto& f : original.fields)
        if (!is_content_field(f.name) && !iequals(f.name, "MIME-Version")) expected_injected.push_back(f);
    REQUIRE(injected.size() == expected_injected.size());
    REQUIRE(records.size() == injected.size());
    // Each record is "Name:" + what the rewritten outer header shows for that occurrence.
    std::vector<HeaderField> outer_non_structural;
    for (const auto& f : r.fields)
        if (!is_content_field(f.name) && !iequals(f.name, "MIME-Version")) outer_non_structural.push_back(f);
    REQUIRE(outer_non_structural.size() == records.size());
    for (std::size_t i = 0; i < injected.size(); ++i) {
        CHECK(injected[i].name == expected_injected[i].name);
        CHECK(injected[i].raw_value == expected_injected[i].raw_value);
        CHECK(records[i].raw_value == " " + outer_non_structural[i].name + ":" + outer_non_structural[i].raw_value);
    }
}
