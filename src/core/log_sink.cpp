#include "core/log_sink.hpp"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>

namespace mdcrypt {

namespace {

std::mutex g_stderr_mutex;
std::atomic<bool> g_to_syslog{false};
std::atomic<bool> g_to_stderr{true};
std::atomic<Severity> g_stderr_threshold{Severity::Debug};
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
    g_stderr_threshold = options.stderr_threshold;
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
    // Severity is ordered most severe first.
    if (g_to_stderr && static_cast<int>(severity) <= static_cast<int>(g_stderr_threshold.load())) {
        const std::lock_guard lock(g_stderr_mutex);
        std::fprintf(stderr, "%s[%ld]: %s: %s\n", g_ident.c_str(), static_cast<long>(::getpid()), label(severity),
                     line.c_str());
        std::fflush(stderr);
    }
}

}  // namespace mdcrypt
