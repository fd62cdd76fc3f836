#include "milter/logging.hpp"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

namespace mdcrypt::milter {

namespace {

std::mutex g_stderr_mutex;
std::atomic<bool> g_to_syslog{false};
std::atomic<bool> g_to_stderr{true};
std::atomic<bool> g_verbose{false};
std::string g_ident = "mdcrypt-milter";  // written once in init_logging, before other threads

int syslog_priority(Severity s) {
    switch (s) {
        case Severity::Error: return LOG_ERR;
        case Severity::Warning: return LOG_WARNING;
        case Severity::Info: return LOG_INFO;
        case Severity::Debug: return LOG_DEBUG;
    }
    return LOG_INFO;
}

const char* label(Severity s) {
    switch (s) {
        case Severity::Error: return "error";
        case Severity::Warning: return "warning";
        case Severity::Info: return "info";
        case Severity::Debug: return "debug";
    }
    return "?";
}

// Values that may contain spaces are quoted; quotes, backslashes and control characters escaped,
// so one message is always one line whatever a reason contains.
void append_quoted(std::string& out, std::string_view value) {
    out.push_back('"');
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (u < 0x20 || u == 0x7f) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 15]);
        } else {
            out.push_back(c);
        }
    }
    out.push_back('"');
}

}  // namespace

void init_logging(const LogOptions& options) {
    g_ident = options.ident;
    g_to_syslog = options.to_syslog;
    g_to_stderr = options.to_stderr;
    g_verbose = options.verbose;
    if (options.to_syslog) openlog(g_ident.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void set_log_verbose(bool verbose) { g_verbose = verbose; }
bool log_verbose() { return g_verbose; }

void log_line(Severity severity, std::string_view text) {
    if (severity == Severity::Debug && !g_verbose) return;
    std::string line(text);
    for (char& c : line)
        if (c == '\n' || c == '\r') c = ' ';
    if (g_to_syslog) syslog(syslog_priority(severity), "%s", line.c_str());
    if (g_to_stderr) {
        const std::lock_guard lock(g_stderr_mutex);
        std::fprintf(stderr, "%s[%ld]: %s: %s\n", g_ident.c_str(), static_cast<long>(::getpid()), label(severity),
                     line.c_str());
        std::fflush(stderr);
    }
}

std::string format_message_line(const MessageLogRecord& r) {
    std::string out = "queue_id=";
    if (r.queue_id.empty()) out += "-";
    for (char c : r.queue_id) {  // the MTA's text: keep the line parseable whatever it sent
        const bool plain = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.' ||
                           c == '-' || c == '_';
        out.push_back(plain ? c : '?');
    }
    out += " verdict=" + r.verdict;
    if (!r.reply.empty()) {
        out += " reply=";
        append_quoted(out, r.reply);
    }
    out += " recipients=" + std::to_string(r.recipients);
    out += " keys=";
    if (r.fingerprints.empty()) out += "-";
    for (std::size_t i = 0; i < r.fingerprints.size(); ++i) out += (i ? "," : "") + r.fingerprints[i];
    out += " size_in=" + std::to_string(r.size_in);
    out += " size_out=" + std::to_string(r.size_out);
    out += " ms=" + std::to_string(r.milliseconds);
    if (r.too_large) out += " too_large=yes";
    out += " reason=";
    append_quoted(out, r.reason);
    return out;
}

}  // namespace mdcrypt::milter
