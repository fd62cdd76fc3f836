// mdcrypt-filter: the pipe form of the milter's core, for delivery-side setups (Dovecot Sieve
// `filter`, procmail, a Postfix pipe transport). Reads one message on stdin, writes it encrypted or
// unchanged on stdout, or with --exec hands it to the next delivery program; the exit status follows
// sysexits.h. Logs to syslog facility mail; stderr only for failures, or every line with --log-stderr.
#include <fcntl.h>
#include <signal.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/file_descriptor.hpp"
#include "core/log_line.hpp"
#include "core/log_sink.hpp"
#include "core/pipe_filter.hpp"
#include "core/private_temp_dir.hpp"
#include "crypto/encryptor_choice.hpp"
#include "crypto/explain.hpp"
#include "crypto/gpg_locale.hpp"
#include "crypto/gpg_operation.hpp"
#include "crypto/key_sources.hpp"
#include "filter/exec_child.hpp"
#include "filter/fd_io.hpp"

namespace fs = std::filesystem;
using namespace mdcrypt;

namespace {

constexpr const char* kUsage =
    "usage: mdcrypt-filter [--log-stderr] --config FILE --recipient ADDR [--recipient ADDR ...] < message > message\n"
    "       mdcrypt-filter [--log-stderr] --config FILE --recipient ADDR ... --exec PROGRAM [ARG ...] < message\n"
    "       mdcrypt-filter --config FILE --explain ADDR [ADDR ...]\n"
    "\n"
    "Encrypts one message (PGP/MIME, RFC 3156) for the recipients whose policy and key say so, or\n"
    "writes it unchanged. Uses the same configuration and policy files as mdcrypt-milter.\n"
    "--explain prints, for each address, whether it is local, its mode and the policy entry that set\n"
    "it, what each key source gave (fingerprint, expiry, file) or why nothing usable, and its class.\n"
    "--exec (last option; PROGRAM an absolute path, run without a shell) hands the message on PROGRAM's\n"
    "stdin instead of stdout, only when the filter's own exit is 0, and returns PROGRAM's exit status\n"
    "(75 if it was killed or could not be started), e.g. --exec /usr/lib/dovecot/dovecot-lda -d USER.\n"
    "One line per message goes to syslog (facility mail); stderr gets failures only, every line with\n"
    "--log-stderr.\n"
    "\n"
    "exit status: 0 written (encrypted or unchanged); 75 temporary failure, nothing written;\n"
    "             77 encryption required but a recipient has no usable key, nothing written;\n"
    "             65 unusable input; 78 bad configuration; 64 bad usage\n"
    "--explain:   0 explained; 75 a key source failed for some address; 78 bad configuration\n";

struct Options {
    fs::path config;
    std::vector<std::string> recipients;
    bool explain = false;
    std::vector<std::string> explain_addresses;
    bool log_stderr = false;
    std::vector<std::string> exec_argv;  // empty: the message goes to stdout
};

// A delivery agent that gives up on the filter sends SIGTERM: gpg is killed at once, the filter exits 75
// and removes its private directory (a default SIGTERM would leave both behind).
void stop_gpg_on_termination() {
    struct sigaction action{};
    action.sa_handler = [](int) {
        stop_gpg_operations();
        terminate_running_child();
    };
    sigemptyset(&action.sa_mask);
    for (int signo : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(signo, &action, nullptr);
}

// The output of --exec: an unlinked 0600 file in the private directory, complete before the child
// starts, so the child never reads a partial message and gets a seekable stdin.
int open_output_file(const fs::path& dir) {
    const fs::path path = dir / "message";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + path.string() + ": " + std::strerror(errno));
    ::unlink(path.c_str());
    return fd;
}

int usage_error(const std::string& message) {
    std::cerr << "mdcrypt-filter: " << message << "\n" << kUsage;
    return EX_USAGE;
}

}  // namespace

int main(int argc, char** argv) {
    pin_gpg_locale();
    stop_gpg_on_termination();
    Options options;
    const std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return EX_OK;
        }
        if (arg == "--version") {
            std::cout << "mdcrypt-filter " MDCRYPT_VERSION "\n";
            return EX_OK;
        }
        if (arg == "--explain") {  // every argument after it is an address
            options.explain = true;
            options.explain_addresses.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            break;
        }
        if (arg == "--log-stderr") {
            options.log_stderr = true;
            continue;
        }
        if (arg == "--exec") {  // every argument after it is the program and its arguments
            options.exec_argv.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
            if (options.exec_argv.empty()) return usage_error("--exec needs a program");
            if (options.exec_argv[0].empty() || options.exec_argv[0][0] != '/')
                return usage_error("--exec needs an absolute program path: " + options.exec_argv[0]);
            break;
        }
        if ((arg == "--config" || arg == "--recipient") && i + 1 < args.size()) {
            if (arg == "--config") options.config = args[++i];
            else options.recipients.push_back(args[++i]);
            continue;
        }
        return usage_error("unknown or incomplete argument: " + arg);
    }
    if (options.config.empty()) return usage_error("--config is required");
    if (options.explain && options.explain_addresses.empty()) return usage_error("--explain needs at least one address");
    if (options.explain && !options.recipients.empty()) return usage_error("--explain and --recipient do not go together");
    if (options.explain && !options.exec_argv.empty()) return usage_error("--explain and --exec do not go together");
    if (!options.explain && options.recipients.empty()) return usage_error("at least one --recipient is required");
    // Success lines to syslog only: Dovecot and pipe(8) show a program's stderr as an error.
    init_logging({.ident = "mdcrypt-filter", .to_syslog = true, .to_stderr = true,
                  .stderr_threshold = options.log_stderr ? Severity::Debug : Severity::Warning, .verbose = false});

    std::shared_ptr<const Config> config;
    try {
        config = load_config(options.config);
    } catch (const std::exception& e) {
        log_error(e.what());
        return EX_CONFIG;
    }

    if (options.explain) {
        try {
            const ExplainReport report =
                explain_addresses(*config, options.explain_addresses, static_cast<std::int64_t>(std::time(nullptr)));
            std::cout << report.text << std::flush;
            return report.any_lookup_failed ? EX_TEMPFAIL : EX_OK;
        } catch (const std::exception& e) {
            log_error(e.what());
            return EX_TEMPFAIL;
        }
    }

    const auto started = std::chrono::steady_clock::now();
    const auto elapsed_ms = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    };
    try {
        PrivateTempDir spool_dir("mdcrypt-filter");
        const SpoolSettings spool{spool_dir.path(), config->milter.body_memory_limit};
        const GnupgSettings& gnupg = config->gnupg;
        const KeySources keys(gnupg);  // [keys] sources, in their configured order
        // Private copies of keys from key files go into a fresh 0700 directory inside the same private
        // directory as spooled bodies; the encryptor removes it after each encryption, and spool_dir
        // goes with whatever is left when this block ends, by return or by exception.
        const std::shared_ptr<Encryptor> encryptor = make_encryptor(gnupg, spool_dir.path());  // [engine] backend
        const KeyLookupFn lookup = [&](std::string_view address, std::int64_t now) { return keys.lookup(address, now); };
        const BoundaryGenerator boundaries = random_boundary_generator();
        const ProcessContext context{config->policy, lookup, *encryptor, spool, boundaries,
                                     static_cast<std::int64_t>(std::time(nullptr))};

        const bool exec = !options.exec_argv.empty();
        const FileDescriptor output(exec ? open_output_file(spool_dir.path()) : -1);
        FdSource in(STDIN_FILENO);
        FdSink out(exec ? output.get() : STDOUT_FILENO);
        const FilterReport report = run_pipe_filter(context, options.recipients, in, out);
        if (report.exit == FilterExit::Ok) out.flush();
        const bool ok = report.exit == FilterExit::Ok;
        log_line(ok ? Severity::Info : Severity::Error, describe(report, elapsed_ms()));
        // 75/77/65: the next program never starts, so the MTA defers or bounces on the filter's code.
        if (!exec || !ok) return static_cast<int>(report.exit);
        const ChildOutcome child = run_child_with_input(options.exec_argv, output.get());
        if (child.exit_code != 0 || !child.error.empty()) {
            LogLine line;
            line.add("exec", options.exec_argv[0]).add("exit", static_cast<std::uint64_t>(child.exit_code));
            if (!child.error.empty()) line.add("reason", child.error);
            log_error(line.str());
        }
        return child.exit_code;
    } catch (const std::exception& e) {
        // Whatever failed, nothing usable was written: the caller must keep the message and retry.
        log_error(describe_failure(e.what(), elapsed_ms()));
        return EX_TEMPFAIL;
    }
}
