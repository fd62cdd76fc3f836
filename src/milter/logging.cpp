#include "milter/logging.hpp"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include "core/log_line.hpp"

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
    LogLine line(r.queue_id);
    line.add("verdict", log_word(r.verdict));
    if (!r.reply.empty()) line.add("reply", r.reply);
    line.add("recipients", static_cast<std::uint64_t>(r.recipients));
    line.add_list("keys", r.fingerprints);
    line.add("size_in", r.size_in).add("size_out", r.size_out);
    line.add("ms", static_cast<std::uint64_t>(r.milliseconds < 0 ? 0 : r.milliseconds));
    if (r.too_large) line.add("too_large", true);
    line.add("reason", r.reason);
    return line.str();
}

std::string format_recipient_line(std::string_view queue_id, const RecipientDecision& d, const Admission* admission,
                                  bool deferrable) {
    LogLine line(queue_id);
    line.add("rcpt", "<" + d.address + ">").add("local", d.local).add("mode", to_string(d.mode)).add("class", log_word(d.cls));
    if (admission) {
        line.add("admission", log_word(admission->verdict));
        if (admission->reply) line.add("reply", admission->reply->rcode + " " + admission->reply->xcode);
    }
    if (!deferrable) line.add("deferrable", false);
    line.add("reason", d.reason);
    return line.str();
}

}  // namespace mdcrypt::milter
