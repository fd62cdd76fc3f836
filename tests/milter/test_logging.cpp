#include <catch2/catch.hpp>

#include "milter/logging.hpp"

using namespace mdcrypt;
using namespace mdcrypt::milter;

TEST_CASE("one line per message, keyed by the queue id: decision, recipients, keys, sizes, time") {
    MessageLogRecord r;
    r.queue_id = "4Xyz12";
    r.verdict = MessageDecision::Action::Encrypt;
    r.recipients = 2;
    r.fingerprints = {"AAAA", "BBBB"};
    r.size_in = 1234;
    r.size_out = 5678;
    r.milliseconds = 9;
    r.reason = "encrypting to 2 key(s)";
    CHECK(format_message_line(r) ==
          "4Xyz12: verdict=encrypt recipients=2 keys=AAAA,BBBB size_in=1234 size_out=5678 ms=9 "
          "reason=\"encrypting to 2 key(s)\"");
}

TEST_CASE("without a queue id there is no prefix, replies and size limits are named") {
    MessageLogRecord r;
    r.verdict = MessageDecision::Action::Defer;
    r.reply = "452 4.3.4";
    r.too_large = true;
    r.reason = "too large";
    CHECK(format_message_line(r) ==
          "verdict=defer reply=\"452 4.3.4\" recipients=0 keys=- size_in=0 size_out=0 ms=0 "
          "too_large=yes reason=\"too large\"");
}

TEST_CASE("whatever a reason or queue id contains, the record stays one parseable line") {
    MessageLogRecord r;
    r.queue_id = "A B\nC";
    r.verdict = MessageDecision::Action::Pass;
    r.reason = "say \"hi\"\r\nX-Injected: yes\\";
    const auto line = format_message_line(r);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    CHECK_THAT(line, Catch::StartsWith("A?B?C: verdict=pass "));
    CHECK_THAT(line, Catch::EndsWith("reason=\"say \\\"hi\\\"\\x0d\\x0aX-Injected: yes\\\\\""));
}

TEST_CASE("a recipient line escapes the address and the reason") {
    RecipientDecision d;
    d.address = "\"a verdict=encrypt x\"@example.test";
    d.local = true;
    d.mode = Mode::Opportunistic;
    d.cls = RecipientClass::Plain;
    d.reason = "no usable key: no key for " + d.address;
    Admission a;
    a.verdict = Admission::Verdict::Separate;
    a.reply = SmtpReply{"452", "4.5.3", "x"};
    CHECK(format_recipient_line("Q1", d, &a, true) ==
          "Q1: rcpt=\"<\\\"a verdict=encrypt x\\\"@example.test>\" local=yes mode=opportunistic class=plain "
          "admission=separate reply=\"452 4.5.3\" reason=\"no usable key: no key for \\\"a verdict=encrypt "
          "x\\\"@example.test\"");
    CHECK(format_recipient_line("", d, nullptr, false) ==
          "rcpt=\"<\\\"a verdict=encrypt x\\\"@example.test>\" local=yes mode=opportunistic class=plain deferrable=no "
          "reason=\"no usable key: no key for \\\"a verdict=encrypt x\\\"@example.test\"");
}
