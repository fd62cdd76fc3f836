#include "core/log_sink.hpp"

#include <syslog.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <thread>

namespace mdcrypt {

namespace {

std::mutex g_stderr_mutex;
std::atomic<bool> g_to_syslog{false};
std::atomic<bool> g_to_stderr{true};
std::atomic<Severity> g_stderr_threshold{Severity::Debug};
std::atomic<bool> g_verbose{false};
std::string g_ident = "mdcrypt-milter";  // written once in init_logging, before other threads
std::atomic<FILE*> g_stderr_out{nullptr};  // the original stderr once fd 2 is forwarded to the log

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
        FILE* out = g_stderr_out.load();
        if (!out) out = stderr;
        std::fprintf(out, "%s[%ld]: %s: %s\n", g_ident.c_str(), static_cast<long>(::getpid()), label(severity),
                     line.c_str());
        std::fflush(out);
    }
}

bool forward_stderr_to_log(std::string prefix) {
    if (g_stderr_out.load()) return true;
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) return false;
    FILE* pipe_file = ::fdopen(ends[1], "w");
    if (!pipe_file) {
        ::close(ends[0]);
        ::close(ends[1]);
        return false;
    }
    std::setvbuf(pipe_file, nullptr, _IOLBF, 0);  // a line reaches the log when it ends
    try {
        std::thread([read_end = ends[0], prefix = std::move(prefix)] {
            constexpr std::size_t kMaxLine = 1000;
            std::string pending;
            char buffer[4096];
            for (;;) {
                const ssize_t n = ::read(read_end, buffer, sizeof buffer);
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) break;
                pending.append(buffer, static_cast<std::size_t>(n));
                std::size_t start = 0;
                for (std::size_t end; (end = pending.find('\n', start)) != std::string::npos || pending.size() - start >= kMaxLine;) {
                    if (end == std::string::npos || end - start > kMaxLine) end = start + kMaxLine;
                    if (end > start) log_line(Severity::Warning, prefix + " " + pending.substr(start, end - start));
                    start = end < pending.size() && pending[end] == '\n' ? end + 1 : end;
                }
                pending.erase(0, start);
            }
            if (!pending.empty()) log_line(Severity::Warning, prefix + " " + pending);
            ::close(read_end);
        }).detach();
    } catch (const std::system_error&) {
        std::fclose(pipe_file);
        ::close(ends[0]);
        return false;
    }
    // glibc's stderr is an assignable variable, shared by every library. File descriptor 2 itself
    // stays: the sanitizers and a dying process write there directly, and must not depend on a thread.
    g_stderr_out = stderr;
    stderr = pipe_file;
    return true;
}

}  // namespace mdcrypt
