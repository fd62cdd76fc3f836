// The milter's log lines: one per message keyed by the queue id; never message content or key material.
// Where they go (syslog facility mail, stderr when a terminal or --log-stderr) is core/log_sink.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/decision.hpp"
#include "core/log_sink.hpp"
#include "core/recipient_admission.hpp"

namespace mdcrypt::milter {

// What is logged about one message at end of message (or when it is deferred earlier).
struct MessageLogRecord {
    std::string queue_id;  // empty if the MTA did not send the `i` macro
    MessageDecision::Action verdict = MessageDecision::Action::Defer;
    std::string reply;     // "451 4.7.0" when one was set
    std::size_t recipients = 0;
    std::vector<std::string> fingerprints;
    std::uint64_t size_in = 0;   // header + body bytes received
    std::uint64_t size_out = 0;  // bytes of the body sent back (encrypted), else 0
    long long milliseconds = 0;  // time spent at end of message
    bool too_large = false;
    std::string reason;
};

// "4Xy..: verdict=encrypt recipients=1 keys=ABC.. size_in=123 size_out=456 ms=7 reason=\"..\""
// (core/log_line.hpp: no queue id, no prefix; every value escaped).
std::string format_message_line(const MessageLogRecord& record);

// One recipient: "QID: rcpt=<..> local=yes mode=.. class=.. [admission=.. reply=\"..\" deferrable=no] reason=..".
// `admission` null at end of message (verbose lines), where no admission is made.
std::string format_recipient_line(std::string_view queue_id, const RecipientDecision& decision,
                                  const Admission* admission, bool deferrable);

}  // namespace mdcrypt::milter
