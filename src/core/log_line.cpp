#include "core/log_line.hpp"

#include <array>

namespace mdcrypt {

namespace {

enum Word : std::size_t { Encrypt, Pass, Plain, Refuse, Reject, Defer, Accept, Separate, WordCount };

// The one table. Order follows the Word enum; README "Logging" lists the same entries.
constexpr std::array<LogWord, WordCount> kWords{{
    {"encrypt", "verdict, class",
     "the body is replaced by its PGP/MIME encryption; as a class: a local recipient with a usable key"},
    {"pass", "verdict", "the message is delivered unchanged (no recipient needs encryption, or it is already encrypted)"},
    {"plain", "class", "the recipient may get the message unchanged: not local, policy off, or opportunistic without a key"},
    {"refuse", "class, admission",
     "policy `required` and no usable key: 550 5.7.1 (refusal = permanent) or 450 4.7.1 (refusal = temporary)"},
    {"reject", "verdict", "5xx: the sender bounces the message; the filter exits 77 (65 for unusable input)"},
    {"defer", "verdict, class, admission",
     "4xx, filter exit 75: the sender keeps the message and retries (key lookup or encryption failed, recipients "
     "needing different copies, too large to encrypt); never delivered in plaintext"},
    {"accept", "admission", "the recipient joins the transaction"},
    {"separate", "admission", "452 4.5.3: the recipient needs another copy; the sender delivers it in another transaction"},
}};

bool needs_quotes(std::string_view value) {
    if (value.empty()) return true;
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '"' || c == '\\' || c == '=') return true;
    }
    return false;
}

bool queue_id_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' || c == '-' || c == '_';
}

}  // namespace

std::string log_value(std::string_view value) {
    const bool cut = value.size() > kMaxLogValueBytes;
    if (cut) value = value.substr(0, kMaxLogValueBytes);
    if (!cut && !needs_quotes(value)) return std::string(value);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20 || u >= 0x7f) {
            out += "\\x";
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 15]);
        } else {
            out.push_back(c);
        }
    }
    if (cut) out += "...";
    out.push_back('"');
    return out;
}

LogLine::LogLine(std::string_view queue_id) {
    if (queue_id.empty()) return;
    for (char c : queue_id.substr(0, kMaxQueueIdBytes)) line_.push_back(queue_id_char(c) ? c : '?');
    line_ += ":";
    first_ = false;
}

LogLine& LogLine::add(std::string_view key, std::string_view value) {
    if (!first_) line_.push_back(' ');
    first_ = false;
    line_ += key;
    line_.push_back('=');
    line_ += log_value(value);
    return *this;
}

LogLine& LogLine::add(std::string_view key, std::uint64_t value) { return add(key, std::to_string(value)); }

LogLine& LogLine::add(std::string_view key, bool value) { return add(key, value ? "yes" : "no"); }

LogLine& LogLine::add_list(std::string_view key, std::span<const std::string> values) {
    if (values.empty()) return add(key, "-");
    std::string joined;
    for (const auto& v : values) {
        if (!joined.empty()) joined.push_back(',');
        joined += v;
    }
    return add(key, joined);
}

std::span<const LogWord> log_vocabulary() { return kWords; }

std::string_view log_word(MessageDecision::Action action) {
    switch (action) {
        case MessageDecision::Action::Encrypt: return kWords[Encrypt].word;
        case MessageDecision::Action::Pass: return kWords[Pass].word;
        case MessageDecision::Action::Defer: return kWords[Defer].word;
        case MessageDecision::Action::Reject: return kWords[Reject].word;
    }
    return "?";
}

std::string_view log_word(RecipientClass cls) {
    switch (cls) {
        case RecipientClass::Encrypt: return kWords[Encrypt].word;
        case RecipientClass::Plain: return kWords[Plain].word;
        case RecipientClass::Refuse: return kWords[Refuse].word;
        case RecipientClass::Defer: return kWords[Defer].word;
    }
    return "?";
}

std::string_view log_word(Admission::Verdict verdict) {
    switch (verdict) {
        case Admission::Verdict::Accept: return kWords[Accept].word;
        case Admission::Verdict::Refuse: return kWords[Refuse].word;
        case Admission::Verdict::Defer: return kWords[Defer].word;
        case Admission::Verdict::Separate: return kWords[Separate].word;
    }
    return "?";
}

}  // namespace mdcrypt
