#include "core/pgp_mime.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/edits.hpp"
#include "core/header.hpp"
#include "fake_encryptor.hpp"

using namespace mdcrypt;
namespace fs = std::filesystem;

namespace {

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

struct Rewritten {
    std::string message;
    std::string plaintext;  // what the encryptor was given
    std::vector<HeaderField> fields;
    std::string body;
};

SpoolSettings temp_spool() { return {fs::temp_directory_path(), 1 << 20}; }

Rewritten rewrite(const std::string& input, BoundaryGenerator boundaries = [] { return std::string("golden.boundary_1"); }) {
    const ParsedHeader parsed = parse_header_block(input);
    StringSource body(std::string_view(input).substr(parsed.body_offset));
    testing::FakeEncryptor encryptor;
    const std::vector<std::string> keys{"AAAABBBBCCCCDDDDEEEEFFFF0000111122223333"};
    EncryptedMessage encrypted = encrypt_message(parsed.fields, body, keys, encryptor, temp_spool(), boundaries);
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

TEST_CASE("rewrite output matches the golden files byte for byte", "[pgp_mime][golden]") {
    const fs::path dir = fs::path(MDCRYPT_TEST_DATA) / "golden";
    const char* update = std::getenv("MDCRYPT_UPDATE_GOLDEN");
    int compared = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (name.size() < 7 || name.substr(name.size() - 7) != ".in.eml") continue;
        const fs::path expected_path = dir / (name.substr(0, name.size() - 7) + ".out.eml");
        SECTION(name) {
            const Rewritten r = rewrite(slurp(entry.path()));
            if (update) std::ofstream(expected_path, std::ios::binary) << r.message;
            CHECK(r.message == slurp(expected_path));
        }
        ++compared;
    }
    CHECK(compared >= 4);
}

TEST_CASE("the encrypted entity is the original Content-* fields and body, untouched", "[pgp_mime]") {
    const std::string input = slurp(fs::path(MDCRYPT_TEST_DATA) / "golden" / "multipart-folded.in.eml");
    const ParsedHeader parsed = parse_header_block(input);
    const Rewritten r = rewrite(input);
    const std::string expected =
        "Content-Type: multipart/alternative;\r\n boundary=\"----=_Part_12_345.678\";\r\n\tcharset=utf-8\r\n"
        "Content-Language: en\r\n"
        "Content-Transfer-Encoding: 7bit\r\n"
        "\r\n" +
        input.substr(parsed.body_offset);
    CHECK(r.plaintext == expected);
}

TEST_CASE("a message without Content-Type gets the RFC 2045 default inside", "[pgp_mime]") {
    const Rewritten r = rewrite("From: a@b.example\r\nSubject: x\r\n\r\nhello\r\n");
    CHECK(r.plaintext == "Content-Type: text/plain; charset=us-ascii\r\n\r\nhello\r\n");
}

TEST_CASE("outer header is RFC 3156 and every other field stays in place", "[pgp_mime]") {
    const std::string input = slurp(fs::path(MDCRYPT_TEST_DATA) / "golden" / "text-qp.in.eml");
    const ParsedHeader before = parse_header_block(input);
    const Rewritten r = rewrite(input);

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
    const Rewritten r = rewrite("Subject: x\r\n\r\nhi\r\n");
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
    const EncryptedMessage m = encrypt_message(parsed.fields, body, keys, encryptor, temp_spool(), gen);
    CHECK(m.body->boundary() == "free.boundary");
    CHECK(calls == 2);

    StringSource body2("hi\r\n");
    BoundaryGenerator always_taken = [] { return std::string("taken.boundary"); };
    CHECK_THROWS_AS(encrypt_message(parsed.fields, body2, keys, encryptor, temp_spool(), always_taken), EncryptError);
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
    CHECK_THROWS_AS(encrypt_message(parsed.fields, body, keys, encryptor, temp_spool(), random_boundary_generator()),
                    EncryptError);
    const std::vector<std::string> none;
    CHECK_THROWS_AS(encrypt_message(parsed.fields, body, none, encryptor, temp_spool(), random_boundary_generator()),
                    EncryptError);
}

TEST_CASE("a large body goes through a disk spool and comes back whole", "[pgp_mime]") {
    std::string body_text;
    for (int i = 0; i < 20000; ++i) body_text += "line " + std::to_string(i) + " of a long body\r\n";
    const ParsedHeader parsed = parse_header_block("Subject: big\r\n\r\n");
    testing::FakeEncryptor encryptor;
    StringSource body(body_text);
    const std::vector<std::string> keys{"FPR"};
    const EncryptedMessage m =
        encrypt_message(parsed.fields, body, keys, encryptor, SpoolSettings{fs::temp_directory_path(), 4096}, random_boundary_generator());
    CHECK(encryptor.last_plaintext == "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body_text);
    auto reader = m.body->reader();
    const std::string out = read_all(*reader);
    CHECK(out.size() == m.body->size());
    CHECK(out.size() > 2 * body_text.size());  // hex fake armor doubles it
}
