// Hostile and broken input through the real pipeline: parse_header_block -> detect_protection ->
// process_message (fake encryptor) -> header edits, and the whole pipe filter. For a recipient whose
// policy says encrypt, every case must come out encrypted, with the original body inside and no
// plaintext outside. Nothing here may crash, hang or take quadratic time (ctest's timeout and the
// sanitizer build catch those).
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "core/edits.hpp"
#include "core/header.hpp"
#include "core/line_ends.hpp"
#include "core/pipe_filter.hpp"
#include "core/processor.hpp"
#include "core/protection_detect.hpp"
#include "fake_encryptor.hpp"
#include "test_files.hpp"

using namespace mdcrypt;
namespace fs = std::filesystem;
using Action = MessageDecision::Action;

namespace {

// In the body of every case; must never appear in what is delivered.
const std::string kSecret = "SECRET-7f3a-the-meeting-moved";
const std::string kFingerprint = "AAAABBBBCCCCDDDDEEEEFFFF0000111122223333";

struct Pipeline {
    Policy policy;
    KeyLookupFn lookup = [](std::string_view, std::int64_t) {
        KeyLookup found;
        found.status = KeyLookup::Status::Found;
        found.key = UsableKey{kFingerprint, 0, "test"};
        return found;
    };
    testing::FakeEncryptor encryptor;
    SpoolSettings spool{fs::temp_directory_path(), 1 << 20};
    BoundaryGenerator boundaries = [] { return std::string("hostile.boundary_1"); };
    const std::vector<std::string> recipients{"<user@example.test>"};

    Pipeline() { policy.domains["example.test"] = DomainPolicy{Mode::Required}; }

    ProcessContext context() const { return {policy, lookup, const_cast<testing::FakeEncryptor&>(encryptor), spool, boundaries, 0}; }
};

struct Outcome {
    Protection protection;
    Action action = Action::Pass;
    std::string body_crlf;  // the original body as the encryptor must see it
    std::string plaintext;  // what the encryptor got
    std::string delivered;  // header after the edits, and the new body
};

// The steps the milter and the pipe filter take, one by one.
Outcome run_steps(const std::string& message) {
    Pipeline p;
    const ParsedHeader parsed = parse_header_block(message);
    Outcome out;
    out.body_crlf = to_crlf(std::string_view(message).substr(parsed.body_offset));
    out.protection = detect_protection(parsed.fields, out.body_crlf, true);

    StringSource raw_body(std::string_view(message).substr(parsed.body_offset));
    CrlfSource body(raw_body);
    std::vector<RecipientDecision> decisions;
    for (const auto& r : p.recipients) decisions.push_back(classify_envelope_recipient(p.policy, r, p.lookup, 0));
    ProcessResult result = process_message(p.context(), parsed.fields, body, decisions);
    out.action = result.decision.action;
    out.plaintext = p.encryptor.last_plaintext;
    if (result.encrypted) {
        for (const auto& f : apply_header_edits(parsed.fields, result.encrypted->header_edits)) out.delivered += serialize_field(f);
        out.delivered += "\r\n";
        auto reader = result.encrypted->body->reader();
        out.delivered += read_all(*reader);
    }
    return out;
}

FilterReport run_filter(const std::string& message, std::string& written) {
    Pipeline p;
    StringSource in(message);
    StringSink out(written);
    return run_pipe_filter(p.context(), p.recipients, in, out);
}

bool contains(std::string_view haystack, std::string_view needle) { return haystack.find(needle) != std::string_view::npos; }

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// The invariant of this file: encrypted, the whole original body inside, no secret outside.
void require_encrypted(const std::string& message) {
    const auto started = std::chrono::steady_clock::now();
    const Outcome out = run_steps(message);
    INFO("detection: " << out.protection.detail);
    CHECK_FALSE(out.protection.is_protected());
    REQUIRE(out.action == Action::Encrypt);
    CHECK(ends_with(out.plaintext, out.body_crlf));
    CHECK_FALSE(contains(out.delivered, kSecret));
    CHECK(contains(out.delivered, "multipart/encrypted"));

    std::string written;
    const FilterReport report = run_filter(message, written);
    INFO("filter: " << describe(report, 0));
    CHECK(report.exit == FilterExit::Ok);
    CHECK(report.result.decision.action == Action::Encrypt);
    CHECK_FALSE(contains(written, kSecret));
    CHECK(contains(written, "multipart/encrypted"));
    // Linear work: the megabyte cases take seconds under sanitizers on a loaded machine; quadratic work
    // would take hours.
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(60));
}

const std::string kHead = "From: a@example.net\r\nTo: user@example.test\r\nSubject: hostile\r\n";
const std::string kBody = "Hello,\r\n" + kSecret + "\r\n";

}  // namespace

TEST_CASE("missing, duplicate and garbage Content-Type", "[hostile]") {
    SECTION("missing") { require_encrypted(kHead + "\r\n" + kBody); }
    SECTION("duplicate, first claiming encryption") {
        require_encrypted(kHead + "Content-Type: multipart/encrypted; boundary=b\r\nContent-Type: text/plain\r\n\r\n" + kBody);
    }
    SECTION("duplicate around a genuine encrypted body with plaintext after it") {
        std::string message = mdcrypt::testing::read_file(fs::path(MDCRYPT_TEST_DATA) / "protected" / "encrypted" / "pgp-mime-pkesk.eml");
        message.insert(message.find("MIME-Version"), "Content-Type: text/plain\r\n");
        require_encrypted(message + kBody);
    }
    for (const std::string value : {"", "@@@", "multipart/encrypted; boundary=\"unterminated", "multipart/",
                                    "/encrypted", "multipart/encrypted; boundary", "multipart/encrypted;;;;boundary==b",
                                    "application/pkcs7-mime; smime-type=enveloped-data; ((((((((((x))))))))))",
                                    "multipart/encrypted; boundary*0*=utf-8''%00b"}) {
        SECTION("garbage: " + value) { require_encrypted(kHead + "Content-Type: " + value + "\r\n\r\n" + kBody); }
    }
}

TEST_CASE("unterminated and empty boundaries", "[hostile]") {
    SECTION("multipart/encrypted never closed") {
        require_encrypted(kHead + "Content-Type: multipart/encrypted; boundary=b\r\n\r\n--b\r\n\r\nVersion: 1\r\n--b\r\n\r\n" + kBody);
    }
    SECTION("multipart/mixed never opened") {
        require_encrypted(kHead + "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + kBody);
    }
    SECTION("empty boundary") {
        require_encrypted(kHead + "Content-Type: multipart/encrypted; boundary=\"\"\r\n\r\n--\r\n\r\n" + kBody + "----\r\n");
    }
    SECTION("boundary of white space") {
        require_encrypted(kHead + "Content-Type: multipart/mixed; boundary=\" \"\r\n\r\n-- \r\n\r\n" + kBody + "-- --\r\n");
    }
    SECTION("boundary that is a prefix of every line") {
        require_encrypted(kHead + "Content-Type: multipart/mixed; boundary=\"-\"\r\n\r\n---\r\n---\r\n" + kBody + "-----\r\n");
    }
}

TEST_CASE("1 MB header fields", "[hostile]") {
    const std::string mega(1024 * 1024, 'x');
    SECTION("a 1 MB Subject") { require_encrypted(kHead + "X-Long: " + mega + "\r\n\r\n" + kBody); }
    SECTION("a 1 MB Content-Type") {
        require_encrypted(kHead + "Content-Type: multipart/encrypted; boundary=b; x=" + mega + "\r\n\r\n" + kBody);
    }
    SECTION("a 1 MB field folded into 100,000 lines") {
        std::string folded = "X-Folded: a";
        for (int i = 0; i < 100'000; ++i) folded += "\r\n 123456789";
        require_encrypted(kHead + folded + "\r\n\r\n" + kBody);
    }
    SECTION("five of them: past the header block limit, the rest is encrypted as body") {
        std::string head = kHead;
        for (int i = 0; i < 5; ++i) head += "X-Long-" + std::to_string(i) + ": " + mega + "\r\n";
        require_encrypted(head + "X-After-The-Limit: " + kSecret + "\r\n\r\n" + kBody);
    }
}

TEST_CASE("NUL bytes", "[hostile]") {
    using namespace std::string_literals;
    SECTION("in a header field") { require_encrypted(kHead + "X-Nul: a\0b\r\n\r\n"s + kBody); }
    SECTION("in Content-Type") { require_encrypted(kHead + "Content-Type: multipart/encrypted;\0 boundary=b\r\n\r\n"s + kBody); }
    SECTION("in the body") { require_encrypted(kHead + "\r\n\0\0"s + kBody + "\0"s); }
    SECTION("in a part header of a PGP/MIME lookalike") {
        require_encrypted(kHead + "Content-Type: multipart/encrypted; boundary=b\r\n\r\n--b\r\nContent-Type: \0\r\n\r\nVersion: 1\r\n--b\r\n\r\n"s +
                          kBody + "--b--\r\n");
    }
}

TEST_CASE("bare LF and bare CR line ends", "[hostile]") {
    SECTION("bare LF everywhere") { require_encrypted("From: a@example.net\nSubject: lf\n\nHello,\n" + kSecret + "\n"); }
    SECTION("bare CR everywhere") { require_encrypted("From: a@example.net\rSubject: cr\r\rHello,\r" + kSecret + "\r"); }
    SECTION("bare CR inside the header block, CRLF elsewhere") {
        require_encrypted("From: a@example.net\r\nX-Note: cr\rX-Hidden: x\r\r" + kSecret + "\r\n\r\n" + kBody);
    }
    SECTION("bare CR in an mbox From line") {
        require_encrypted("From a@example.net Mon Mar  2 10:00:00 2026\rSubject: cr\r\r" + kSecret + "\n\n" + kBody);
    }
    SECTION("an mbox From line with no line end") { require_encrypted("From a@example.net " + kSecret); }
    SECTION("mixed line ends") { require_encrypted("From: a@example.net\r\nSubject: mixed\n\r\nHello,\r" + kSecret + "\n\r\n"); }
}

TEST_CASE("raw 8-bit and invalid UTF-8 in headers", "[hostile]") {
    SECTION("invalid UTF-8 in Subject") { require_encrypted(kHead + "X-Bytes: \xff\xfe\xc3\x28 \xe2\x82\r\n\r\n" + kBody); }
    SECTION("8-bit field name") { require_encrypted("From: a@example.net\r\nX-\xe9t\xe9: v\r\n\r\n" + kBody); }
    SECTION("8-bit Content-Type parameters") {
        require_encrypted(kHead + "Content-Type: text/plain; charset=\"\xff\"; name=\"\xc3\x28.p7m\"\r\n\r\n" + kBody);
    }
}

TEST_CASE("10,000 nested multiparts", "[hostile]") {
    std::string open;
    std::string close;
    for (int i = 0; i < 10'000; ++i) {
        const std::string b = "b" + std::to_string(i);
        open += "--" + (i == 0 ? std::string("top") : "b" + std::to_string(i - 1)) + "\r\nContent-Type: multipart/mixed; boundary=\"" +
                b + "\"\r\n\r\n";
        close = "--" + b + "--\r\n" + close;
    }
    const std::string inner = "--b9999\r\nContent-Type: text/plain\r\n\r\n" + kBody;
    SECTION("mixed") {
        require_encrypted(kHead + "Content-Type: multipart/mixed; boundary=\"top\"\r\n\r\n" + open + inner + close + "--top--\r\n");
    }
    SECTION("under multipart/encrypted") {
        require_encrypted(kHead + "Content-Type: multipart/encrypted; boundary=\"top\"\r\n\r\n" + open + inner + close + "--top--\r\n");
    }
}

TEST_CASE("short and empty bodies, header-only messages", "[hostile]") {
    SECTION("a body of one line with no line end") { require_encrypted(kHead + "\r\n" + kSecret); }
    SECTION("a zero-byte body") { require_encrypted(kHead + "\r\n"); }
    SECTION("a header-only message") { require_encrypted(kHead); }
    SECTION("a header-only message without a final line end") { require_encrypted("Subject: header only"); }
    SECTION("a body and no header") { require_encrypted("\r\n" + kBody); }
    SECTION("no header field at all, just text") { require_encrypted(kSecret + " is not a header field\r\n" + kBody); }
}
