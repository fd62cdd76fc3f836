#include <catch2/catch.hpp>

#include "core/bytes.hpp"
#include "fakes.hpp"
#include "milter/message_state.hpp"

using namespace mdcrypt;
using namespace mdcrypt::milter;

namespace {

std::string body_of(const MessageState& m) {
    const auto reader = m.body();
    return read_all(*reader);
}

}  // namespace

TEST_CASE("a message keeps its envelope and header fields in order, in the core's raw form") {
    testing::TempDir dir;
    MessageState m({dir.path(), 1024}, 0);
    m.set_sender("<bob@example.net>");
    m.add_recipient("<alice@example.test>");
    m.add_recipient("<carol@example.test>");
    m.add_header("From", " Bob <bob@example.net>", true);
    m.add_header("Content-Type", " text/plain;\n\tcharset=utf-8", true);
    m.add_header("Subject", "no space", false);
    CHECK(m.sender() == "<bob@example.net>");
    REQUIRE(m.recipients().size() == 2);
    CHECK(m.recipients()[1] == "<carol@example.test>");
    REQUIRE(m.fields().size() == 3);
    CHECK(m.fields()[0].name == "From");
    CHECK(m.fields()[1].raw_value == " text/plain;\r\n\tcharset=utf-8");
    CHECK(m.fields()[2].raw_value == " no space");
}

TEST_CASE("the body is kept byte for byte when it is CRLF") {
    testing::TempDir dir;
    MessageState m({dir.path(), 1024}, 0);
    m.append_body("line 1\r\nline");
    m.append_body(" 2\r\n\r\n\xc3\xa9\r");
    m.append_body("\nno final line end");
    CHECK(body_of(m) == "line 1\r\nline 2\r\n\r\n\xc3\xa9\r\nno final line end");
    CHECK(m.body_bytes_received() == 39);
}

TEST_CASE("bare LF in the body becomes CRLF, across chunk boundaries too") {
    testing::TempDir dir;
    MessageState m({dir.path(), 1024}, 0);
    m.append_body("a\nb\r");
    m.append_body("\nc\n");
    m.append_body("\n");
    CHECK(body_of(m) == "a\r\nb\r\nc\r\n\r\n");
}

TEST_CASE("a body above the memory limit is spooled to a file and read back whole") {
    testing::TempDir dir;
    MessageState m({dir.path(), 100}, 0);
    std::string expected;
    for (int i = 0; i < 50; ++i) {
        const std::string line = "line " + std::to_string(i) + "\r\n";
        m.append_body(line);
        expected += line;
    }
    CHECK(m.body_on_disk());
    CHECK(body_of(m) == expected);
    CHECK_FALSE(m.too_large());
}

TEST_CASE("max_message_size counts header and body bytes, beyond it the body is dropped") {
    testing::TempDir dir;
    MessageState m({dir.path(), 1024}, 100);
    m.add_header("Subject", " x", true);  // 7 + 1 + 2 + 2 = 12 bytes
    m.append_body(std::string(88, 'a'));  // 100 in total: still fits
    CHECK_FALSE(m.too_large());
    m.append_body("b");
    CHECK(m.too_large());
    CHECK(m.bytes_received() == 101);
    CHECK(body_of(m).empty());
    m.append_body("more");  // still counted, never kept
    CHECK(m.bytes_received() == 105);
    CHECK(body_of(m).empty());
}

TEST_CASE("a message too large by size keeps the start of its body (CRLF) to tell whether it is encrypted") {
    testing::TempDir dir;
    MessageState m({dir.path(), 64}, 100);
    m.add_header("Subject", " x", true);
    m.append_body("first line\nsecond");  // spooled while it fits, bare LF made CRLF
    CHECK_FALSE(m.body_prefix());          // not too large yet: the whole body is kept
    m.append_body(std::string(100, 'y') + "\n");
    REQUIRE(m.too_large());
    REQUIRE(m.body_prefix());
    CHECK(*m.body_prefix() == "first line\r\nsecond" + std::string(100, 'y') + "\r\n");
    // Bounded: never more than kMaxInspectedBodyBytes + 1 bytes, however much more arrives.
    const std::string mib(kMaxInspectedBodyBytes, 'z');
    m.append_body(mib);
    m.append_body(mib);
    CHECK(m.body_prefix()->size() == kMaxInspectedBodyBytes + 1);
    CHECK(m.bytes_received() == 12 + 17 + 101 + 2 * kMaxInspectedBodyBytes);
}

TEST_CASE("a header that crosses max_message_size is still kept whole, up to the core's header limit") {
    testing::TempDir dir;
    MessageState m({dir.path(), 1024}, 20);
    m.add_header("Subject", " a long subject line", true);
    m.add_header("Content-Type", " multipart/encrypted", true);
    REQUIRE(m.too_large());
    CHECK(m.fields().size() == 2);
    REQUIRE(m.body_prefix());
    m.add_header("X-Big", " " + std::string(kMaxHeaderBlockBytes, 'h'), true);
    CHECK_FALSE(m.body_prefix());
    CHECK(m.fields().empty());
}

TEST_CASE("a message whose header was too large keeps no body start: its header cannot be judged") {
    testing::TempDir dir;
    MessageState m({dir.path(), 1024}, 0);
    m.add_header("X-Big", " " + std::string(kMaxHeaderBlockBytes, 'h'), true);
    m.append_body("-----BEGIN PGP MESSAGE-----\r\n");
    REQUIRE(m.too_large());
    CHECK_FALSE(m.body_prefix());
}

TEST_CASE("a header block larger than the core's limit makes the message too large") {
    testing::TempDir dir;
    MessageState m({dir.path(), 1024}, 0);
    const std::string value(1024 * 1024 - 100, 'x');  // four of these fit in kMaxHeaderBlockBytes
    for (int i = 0; i < 4; ++i) m.add_header("X-Big", value, true);
    CHECK_FALSE(m.too_large());
    m.add_header("X-Big", value, true);
    CHECK(m.too_large());
}

TEST_CASE("the queue id is whatever the MTA sent last") {
    testing::TempDir dir;
    MessageState m({dir.path(), 1024}, 0);
    CHECK(m.queue_id().empty());
    m.set_queue_id("4ABC");
    CHECK(m.queue_id() == "4ABC");
}

TEST_CASE("a failed message collects nothing more and keeps the first reason") {
    testing::TempDir dir;
    MessageState m({dir.path(), 1024}, 0);
    m.add_header("Subject", " before", true);
    m.append_body("kept\r\n");
    CHECK_FALSE(m.failed());
    m.fail("header: out of memory");
    m.fail("eoh: something else");
    CHECK(m.failed());
    CHECK(m.failure() == "header: out of memory");
    m.add_header("Subject", " after", true);
    m.append_body("more");
    CHECK(m.fields().size() == 1);
    CHECK(body_of(m).empty());
}
