// One builder for every log line about a message or a recipient, and the one vocabulary of outcomes
// shared by the milter and the filter (README "Logging" lists the same words).
//
// A line is `QUEUEID: key=value key=value ...` when the MTA gave a queue id (Postfix and OpenDKIM
// style), `key=value ...` otherwise. Keys are fixed words from the code; every value goes through
// one escaper, so text chosen by a sender (an address with a quoted local part, a reason quoting it)
// can never add a field or end one: a value holding a space, '"', '\\', '=' or a byte outside
// printable ASCII is written in double quotes with backslash escapes (\" \\ \xHH). Values are cut at
// kMaxLogValueBytes (marked with "...") so one hostile field cannot grow a line without bound.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/decision.hpp"
#include "core/recipient_admission.hpp"

namespace mdcrypt {

inline constexpr std::size_t kMaxLogValueBytes = 1024;
inline constexpr std::size_t kMaxQueueIdBytes = 64;

// `value` as it appears after `key=`: bare when it needs no quoting, else quoted and escaped.
std::string log_value(std::string_view value);

class LogLine {
public:
    // `queue_id` empty: no prefix. Otherwise it prefixes the line, its bytes outside [A-Za-z0-9._-]
    // replaced by '?' (the MTA's text; a queue id never needs them).
    explicit LogLine(std::string_view queue_id = {});

    LogLine& add(std::string_view key, std::string_view value);
    LogLine& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
    LogLine& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
    LogLine& add(std::string_view key, std::uint64_t value);
    LogLine& add(std::string_view key, bool value);  // yes / no
    // A comma-separated list, '-' when empty (fingerprints).
    LogLine& add_list(std::string_view key, std::span<const std::string> values);

    const std::string& str() const { return line_; }

private:
    std::string line_;
    bool first_ = true;
};

// The vocabulary: every outcome word that appears in a log line, from one table.
struct LogWord {
    std::string_view word;
    std::string_view fields;   // where it appears: "verdict", "class", "admission"
    std::string_view meaning;  // one line, as the README says it
};
std::span<const LogWord> log_vocabulary();

std::string_view log_word(MessageDecision::Action action);  // verdict=
std::string_view log_word(RecipientClass cls);              // class=
std::string_view log_word(Admission::Verdict verdict);      // admission=

}  // namespace mdcrypt
