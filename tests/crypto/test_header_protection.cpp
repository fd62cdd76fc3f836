// RFC 9788 header protection end to end: messages go through process_message with the real
// GpgmeEncryptor under a policy, gpg decrypts the result with the recipient's secret key, and Python's
// email package (a MIME parser we did not write) reads the decrypted entity. What a client that follows
// RFC 9788 sees there is the sender's Subject on a Content-Type marked hp="cipher"; a client of the older
// protected-headers scheme (Thunderbird: the decrypted entity's Content-Type has protected-headers="v1",
// then its Subject is shown) finds its marker on the same Content-Type.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "core/address.hpp"
#include "core/edits.hpp"
#include "core/header.hpp"
#include "core/processor.hpp"
#include "core/text.hpp"
#include "crypto/gpgme_encryptor.hpp"
#include "server_home.hpp"

using namespace mdcrypt;
using namespace mdcrypt::test;

namespace {

const TestKey& key(const char* name) { return TestKeys::get()[name]; }

// Prints what the email package makes of the entity on stdin, one "name=value" line per item, values
// decoded (RFC 2047) and unfolded, backslashes and line ends escaped.
constexpr const char* kReadEntity = R"PY(
import email, email.policy, sys
msg = email.message_from_binary_file(sys.stdin.buffer, policy=email.policy.default)
def out(name, value):
    text = "<none>" if value is None else str(value)
    sys.stdout.write(name + "=" + text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n") + "\n")
for name in ("Subject", "From", "To", "Cc", "Date", "Message-ID"):
    out(name, msg[name])
out("content-type", msg.get_content_type())
out("hp", msg.get_param("hp"))
out("protected-headers", msg.get_param("protected-headers"))
for value in msg.get_all("HP-Outer") or []:
    out("HP-Outer", value)
out("defects", len(msg.defects))
if msg.is_multipart():
    out("boundary", msg.get_boundary())
    for part in msg.iter_parts():
        out("part", part.get_content_type())
else:
    out("body", msg.get_content())
)PY";

using Reading = std::multimap<std::string, std::string>;

Reading read_with_python(const std::string& entity) {
    const test::ProcessResult python =
        run_process({"/usr/bin/python3", "-c", kReadEntity}, entity, {"PYTHONIOENCODING=utf-8"});
    INFO(python.describe());
    REQUIRE(python.ok());
    Reading reading;
    std::size_t pos = 0;
    while (pos < python.out.size()) {
        const auto end = python.out.find('\n', pos);
        const std::string line = python.out.substr(pos, end - pos);
        const auto eq = line.find('=');
        REQUIRE(eq != std::string::npos);
        reading.emplace(line.substr(0, eq), line.substr(eq + 1));
        pos = end == std::string::npos ? python.out.size() : end + 1;
    }
    return reading;
}

std::string one(const Reading& reading, const std::string& name) {
    REQUIRE(reading.count(name) == 1);
    return reading.find(name)->second;
}

std::vector<std::string> all(const Reading& reading, const std::string& name) {
    std::vector<std::string> values;
    for (auto [it, end] = reading.equal_range(name); it != end; ++it) values.push_back(it->second);
    return values;
}

// alice's domain is local with the given policy; alice has her real key.
class Pipeline {
public:
    explicit Pipeline(bool header_protection) : encryptor_(server_.path(), TrustModel::ServerKeyring) {
        const auto address = parse_address(key("alice").address);
        REQUIRE(address);
        policy_.domains[address->domain] = DomainPolicy{Mode::Required, header_protection};
        lookup_ = [](std::string_view, std::int64_t) {
            KeyLookup found;
            found.status = KeyLookup::Status::Found;
            found.key = UsableKey{key("alice").fingerprint, 0, "test"};
            return found;
        };
    }

    struct Delivered {
        std::vector<HeaderField> outer;  // the header as delivered
        std::string entity;              // what gpg decrypted
        bool header_protected = false;
    };

    Delivered deliver(const std::string& message) {
        const ParsedHeader parsed = parse_header_block(message);
        REQUIRE(parsed.defects.empty());
        const std::vector<RecipientDecision> recipients{
            classify_envelope_recipient(policy_, "<" + key("alice").address + ">", lookup_, now_seconds())};
        StringSource body(std::string_view(message).substr(parsed.body_offset));
        const SpoolSettings spool{spool_dir_.path(), 1 << 20};
        const BoundaryGenerator boundaries = random_boundary_generator();
        const ProcessContext context{policy_, lookup_, encryptor_, spool, boundaries, now_seconds()};
        const mdcrypt::ProcessResult result = process_message(context, parsed.fields, body, recipients);
        INFO(result.decision.reason);
        REQUIRE(result.decision.action == MessageDecision::Action::Encrypt);
        REQUIRE(result.encrypted);

        Delivered delivered;
        delivered.outer = apply_header_edits(parsed.fields, result.encrypted->header_edits);
        delivered.header_protected = result.header_protected;
        const std::string new_body = read_all(*result.encrypted->body->reader());
        const auto begin = new_body.find("-----BEGIN PGP MESSAGE-----");
        const std::string end_line = "-----END PGP MESSAGE-----\r\n";
        const auto end = new_body.find(end_line);
        REQUIRE(begin != std::string::npos);
        REQUIRE(end != std::string::npos);
        const test::ProcessResult decrypted = recipient_.gpg({"--decrypt"}, new_body.substr(begin, end + end_line.size() - begin));
        INFO(decrypted.describe());
        REQUIRE(decrypted.ok());
        delivered.entity = decrypted.out;
        return delivered;
    }

private:
    ServerHome server_;
    RecipientHome recipient_;
    TempDir spool_dir_{"mdcrypt-spool-"};
    GpgmeEncryptor encryptor_;
    Policy policy_;
    KeyLookupFn lookup_;
};

const std::string kFoldedSubjectMultipart =
    "Received: from client.example.net by mx.example.test; Fri, 27 Nov 2026 11:00:00 +0000\r\n"
    "From: =?utf-8?q?Jos=C3=A9?= <jose@example.net>\r\n"
    "To: Alice <alice@example.test>, \"Carol, the second\" <carol@example.test>\r\n"
    "Cc: Frank <frank@example.test>,\r\n\tgrace@example.test\r\n"
    "Subject: =?utf-8?q?Protokoll_der_Sitzung_vom_26=2E_November=3A_Entscheidung_=C3=BCber?=\r\n"
    " =?utf-8?q?_den_Haushalt?=\r\n"
    "Date: Thu, 26 Nov 2026 18:30:00 +0100\r\n"
    "Message-ID: <hp-e2e-1@example.net>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed;\r\n\tboundary=\"------------mix42\"\r\n"
    "\r\n"
    "This is a multi-part message in MIME format.\r\n"
    "--------------mix42\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Siehe Anhang.=20\r\n"
    "--------------mix42\r\n"
    "Content-Type: application/pdf; name=\"protokoll.pdf\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0xLjQKJcfsj6IKCg==\r\n"
    "--------------mix42--\r\n";

}  // namespace

TEST_CASE("header protection with real gpg: the decrypted entity shows the sender's Subject, hp=\"cipher\" and "
          "protected-headers=\"v1\"",
          "[hp]") {
    Pipeline pipeline(true);
    const auto delivered = pipeline.deliver(kFoldedSubjectMultipart);
    CHECK(delivered.header_protected);
    CHECK(first_value(delivered.outer, "Subject") == "[...]");

    const Reading inside = read_with_python(delivered.entity);
    CHECK(one(inside, "Subject") == "Protokoll der Sitzung vom 26. November: Entscheidung über den Haushalt");
    CHECK(one(inside, "From") == "José <jose@example.net>");
    CHECK(one(inside, "To") == "Alice <alice@example.test>, \"Carol, the second\" <carol@example.test>");
    CHECK(one(inside, "Cc") == "Frank <frank@example.test>, grace@example.test");
    CHECK(one(inside, "Message-ID") == "<hp-e2e-1@example.net>");
    CHECK(one(inside, "content-type") == "multipart/mixed");
    CHECK(one(inside, "hp") == "cipher");
    CHECK(one(inside, "protected-headers") == "v1");
    // The appended parameters left the original ones readable: the parts are still found.
    CHECK(one(inside, "boundary") == "------------mix42");
    CHECK(all(inside, "part") == std::vector<std::string>{"text/plain", "application/pdf"});
    CHECK(one(inside, "defects") == "0");
    // HP-Outer values are unstructured: unfolding keeps the folding white space, encoded words are decoded.
    CHECK(all(inside, "HP-Outer") ==
          std::vector<std::string>{"Received: from client.example.net by mx.example.test; Fri, 27 Nov 2026 11:00:00 +0000",
                                   "From: José <jose@example.net>",
                                   "To: Alice <alice@example.test>, \"Carol, the second\" <carol@example.test>",
                                   "Cc: Frank <frank@example.test>,\tgrace@example.test",
                                   "Subject: [...]",
                                   "Date: Thu, 26 Nov 2026 18:30:00 +0100",
                                   "Message-ID: <hp-e2e-1@example.net>"});

    // Byte fidelity: the sender's folded Subject and the original body are inside as they were sent.
    CHECK(delivered.entity.find("\r\nSubject: =?utf-8?q?Protokoll_der_Sitzung_vom_26=2E_November=3A_Entscheidung_=C3=BCber?=\r\n"
                                " =?utf-8?q?_den_Haushalt?=\r\n") != std::string::npos);
    const std::string original_body = kFoldedSubjectMultipart.substr(parse_header_block(kFoldedSubjectMultipart).body_offset);
    CHECK(delivered.entity.substr(delivered.entity.size() - original_body.size()) == original_body);
    CHECK(delivered.entity.find("Content-Type: multipart/mixed;\r\n\tboundary=\"------------mix42\"; hp=\"cipher\"; "
                                "protected-headers=\"v1\"\r\n\r\n") != std::string::npos);
}

TEST_CASE("header protection with real gpg: a message without Subject gets none, inside or outside", "[hp]") {
    Pipeline pipeline(true);
    const auto delivered = pipeline.deliver(
        "From: Bob <bob@example.net>\r\nTo: alice@example.test\r\nMessage-ID: <hp-e2e-2@example.net>\r\n\r\nNo subject.\r\n");
    CHECK(delivered.header_protected);
    CHECK(count_fields(delivered.outer, "Subject") == 0);

    const Reading inside = read_with_python(delivered.entity);
    CHECK(one(inside, "Subject") == "<none>");
    CHECK(one(inside, "content-type") == "text/plain");
    CHECK(one(inside, "hp") == "cipher");
    // The RFC 2045 default with both markers is folded before protected-headers; still one parameter.
    CHECK(one(inside, "protected-headers") == "v1");
    CHECK(one(inside, "defects") == "0");
    CHECK(one(inside, "body") == "No subject.\\n");
    for (const auto& record : all(inside, "HP-Outer")) CHECK_FALSE(Catch::startsWith(record, "Subject"));
    CHECK(all(inside, "HP-Outer").size() == 3);
}

TEST_CASE("header protection off in the policy: the Subject stays outside and the entity is unmarked", "[hp]") {
    Pipeline pipeline(false);
    const auto delivered = pipeline.deliver(kFoldedSubjectMultipart);
    CHECK_FALSE(delivered.header_protected);
    const auto original = parse_header_block(kFoldedSubjectMultipart).fields;
    const auto subject = [](const std::vector<HeaderField>& fields) {
        for (const auto& f : fields)
            if (iequals(f.name, "Subject")) return f.raw_value;
        return std::string("<none>");
    };
    CHECK(subject(delivered.outer) == subject(original));

    const Reading inside = read_with_python(delivered.entity);
    CHECK(one(inside, "Subject") == "<none>");
    CHECK(one(inside, "hp") == "<none>");
    CHECK(one(inside, "protected-headers") == "<none>");
    CHECK(all(inside, "HP-Outer").empty());
    CHECK(one(inside, "content-type") == "multipart/mixed");
}
