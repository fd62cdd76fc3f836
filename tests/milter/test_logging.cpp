#include <catch2/catch.hpp>

#include "milter/logging.hpp"

using namespace mdcrypt::milter;

TEST_CASE("one line per message: decision, recipients, keys, sizes, time") {
    MessageLogRecord r;
    r.queue_id = "4Xyz12";
    r.verdict = "encrypt";
    r.recipients = 2;
    r.fingerprints = {"AAAA", "BBBB"};
    r.size_in = 1234;
    r.size_out = 5678;
    r.milliseconds = 9;
    r.reason = "encrypting to 2 key(s)";
    CHECK(format_message_line(r) ==
          "queue_id=4Xyz12 verdict=encrypt recipients=2 keys=AAAA,BBBB size_in=1234 size_out=5678 ms=9 "
          "reason=\"encrypting to 2 key(s)\"");
}

TEST_CASE("missing parts are shown as '-', replies and size limits are named") {
    MessageLogRecord r;
    r.verdict = "tempfail";
    r.reply = "452 4.3.4";
    r.too_large = true;
    r.reason = "too large";
    CHECK(format_message_line(r) ==
          "queue_id=- verdict=tempfail reply=\"452 4.3.4\" recipients=0 keys=- size_in=0 size_out=0 ms=0 "
          "too_large=yes reason=\"too large\"");
}

TEST_CASE("whatever a reason or queue id contains, the record stays one parseable line") {
    MessageLogRecord r;
    r.queue_id = "A B\nC";
    r.verdict = "pass";
    r.reason = "say \"hi\"\r\nX-Injected: yes\\";
    const auto line = format_message_line(r);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    CHECK_THAT(line, Catch::StartsWith("queue_id=A?B?C "));
    CHECK_THAT(line, Catch::EndsWith("reason=\"say \\\"hi\\\"\\x0d\\x0aX-Injected: yes\\\\\""));
}
