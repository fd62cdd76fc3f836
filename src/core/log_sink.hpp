// Where log lines go: syslog facility mail and/or stderr. Shared by the milter and mdcrypt-filter so
// both log the same way; what a line says is up to them (core/log_line.hpp formats it).
#pragma once

#include <string>
#include <string_view>

namespace mdcrypt {

enum class Severity { Error, Warning, Info, Debug };

struct LogOptions {
    std::string ident = "mdcrypt-milter";
    bool to_syslog = true;
    bool to_stderr = false;
    // With to_stderr, only lines at least this severe go to stderr (syslog gets every line): the
    // filter writes failures there but not success lines, which Dovecot would log as errors.
    Severity stderr_threshold = Severity::Debug;
    bool verbose = false;  // Debug lines are written only when set
};

// Call once at start, before threads exist; may be called again to change `verbose`.
void init_logging(const LogOptions& options);
void set_log_verbose(bool verbose);
bool log_verbose();
void log_line(Severity severity, std::string_view text);

// Makes what libraries write to stdio's stderr log lines "PREFIX LINE" at Warning (syslog and, with
// to_stderr, the original stderr, where this sink's own lines keep going). For librnp, whose Debian
// build logs unconditionally with fprintf(stderr) (RNP_LOG ignores rnp_ffi_set_log_fd and
// RNP_LOG_CONSOLE there). File descriptor 2 is left alone. Lines longer than 1000 bytes are cut into
// several. Call once, after init_logging and before other threads exist; a reader thread lives until
// exit. False (nothing changed) when the pipe or the thread cannot be made.
bool forward_stderr_to_log(std::string prefix);

inline void log_error(std::string_view text) { log_line(Severity::Error, text); }
inline void log_warning(std::string_view text) { log_line(Severity::Warning, text); }
inline void log_info(std::string_view text) { log_line(Severity::Info, text); }
inline void log_debug(std::string_view text) { log_line(Severity::Debug, text); }

}  // namespace mdcrypt
