#include "milter/daemon.hpp"

#include <libmilter/mfapi.h>
#include <unistd.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <iostream>
#include <optional>
#include <thread>

#include "core/metrics.hpp"
#include "core/spool.hpp"
#include "milter/check_config.hpp"
#include "milter/health.hpp"
#include "milter/logging.hpp"
#include "milter/metrics_exposition.hpp"
#include "milter/metrics_server.hpp"
#include "milter/milter_callbacks.hpp"
#include "milter/notify.hpp"
#include "milter/privileges.hpp"
#include "milter/signals.hpp"
#include "milter/socket.hpp"

namespace mdcrypt::milter {

namespace {

// After stop_timeout_seconds, how long the messages whose gpg was killed get to answer their 4xx.
constexpr auto kAfterKill = std::chrono::seconds(3);

// Removes our socket file when run_daemon returns, on failure paths after binding too (libmilter
// leaves it behind when running as root).
class SocketFileCleanup {
public:
    SocketFileCleanup(std::filesystem::path path, SocketFileId id) : path_(std::move(path)), id_(id) {}
    ~SocketFileCleanup() { remove_socket_file(path_, id_); }
    SocketFileCleanup(const SocketFileCleanup&) = delete;
    SocketFileCleanup& operator=(const SocketFileCleanup&) = delete;

private:
    std::filesystem::path path_;
    SocketFileId id_;
};

DaemonExit fail(DaemonExit code, const std::string& message) {
    log_error(message);
    return code;
}

bool wait_for_messages_in_progress(std::chrono::steady_clock::duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (messages_in_progress() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return messages_in_progress() == 0;
}

// A stop ends within stop_timeout_seconds plus a few: a message still encrypting then (a stuck gpg)
// has its gpg killed and answers 4xx; no gpg outlives the daemon.
void finish_messages_in_progress(const Runtime& runtime) {
    const auto snapshot = runtime.current();
    const unsigned stop_timeout_seconds = snapshot->config->milter.stop_timeout_seconds;
    if (wait_for_messages_in_progress(std::chrono::seconds(stop_timeout_seconds))) return;
    log_warning("stopping: " + std::to_string(messages_in_progress()) + " message(s) still in progress after " +
                std::to_string(stop_timeout_seconds) + " s (milter.stop_timeout_seconds); killing their gpg, the MTA " +
                "retries them");
    if (snapshot->crypto && snapshot->crypto->stop_all) snapshot->crypto->stop_all();
    if (!wait_for_messages_in_progress(kAfterKill))
        log_warning("stopping with " + std::to_string(messages_in_progress()) +
                    " message(s) still in progress; the MTA tempfails them");
}

void log_reload(const ReloadResult& result, const Runtime& runtime) {
    if (!result.ok) {
        log_error("reload failed, keeping the running configuration: " + result.error);
        return;
    }
    for (const auto& warning : result.warnings) log_warning(warning);
    const auto snapshot = runtime.current();
    set_log_verbose(snapshot->config->milter.log_verbose);
    log_info("configuration reloaded from " + snapshot->config->file.string() + " (generation " +
             std::to_string(snapshot->generation) + ", " + std::to_string(snapshot->config->policy.domains.size()) +
             " local domain(s))");
}

}  // namespace

DaemonExit check_config(const Config& config, const CryptoFactory& crypto) {
    std::optional<std::size_t> keys;
    std::shared_ptr<const CryptoServices> services;
    try {
        // Read the GnuPG home as the daemon will: started as root (systemd's ExecStartPre), gpg would
        // otherwise leave root-owned files (trustdb, locks) in the user's home.
        if (!config.milter.user.empty() && ::geteuid() == 0)
            drop_privileges(resolve_identity(config.milter.user, config.milter.group));
        // Before gpg runs: its "Permission denied" names a file but not the cause or the fix.
        const std::string owner = config.milter.user.empty()
                                      ? std::to_string(::geteuid()) + ":" + std::to_string(::getegid())
                                      : config.milter.user + ":" + config.milter.group;  // "user:" is the user's login group
        const auto problems = gnupg_home_access_problems(config.gnupg.home, owner);
        if (!problems.empty()) {
            for (const auto& problem : problems)
                std::cerr << "mdcrypt-milter: " << config.file.string() << ": [gnupg] home: " << problem << "\n";
            return DaemonExit::Config;
        }
        services = crypto(config.gnupg);
        if (services && services->usable_key_count) keys = services->usable_key_count();
    } catch (const std::exception& e) {
        std::cerr << "mdcrypt-milter: " << config.file.string() << ": [gnupg] unusable: " << e.what() << "\n";
        return DaemonExit::Config;
    }
    std::cout << describe_config(config, keys);
    if (services && services->check_directory) {
        // Not a configuration error (the directory may be down for maintenance), but mail that needs it
        // would be deferred: said as loudly as running as root.
        if (const auto why = services->check_directory())
            std::cout << "WARNING: ldap directory unusable, recipients whose lookup needs it would be deferred: " << *why << "\n";
        else
            std::cout << "ldap directory answers\n";
    }
    if (const auto warning = root_warning(config, ::geteuid())) std::cout << "WARNING: " << *warning << "\n";
    for (const auto& advice : gnupg_home_advice(config.gnupg.home)) std::cout << "warning: " << advice << "\n";
    std::cout << "configuration OK\n";
    return DaemonExit::Ok;
}

DaemonExit run_daemon(std::shared_ptr<const Config> config, CryptoFactory crypto) {
    const MilterSettings& settings = config->milter;
    // First of all, so a SIGHUP during start-up (a package's postinst, a quick reload) is queued for
    // the main loop instead of killing the daemon with the default action.
    SignalPipe signals;

    SocketSpec socket;
    std::optional<Identity> identity;
    try {
        socket = parse_socket_spec(settings.socket);
        if (!settings.user.empty()) identity = resolve_identity(settings.user, settings.group);
    } catch (const std::exception& e) {
        return fail(DaemonExit::Config, config->file.string() + ": " + e.what());
    }

    if (const auto warning = root_warning(*config, ::geteuid())) log_warning("WARNING: " + *warning);
    if (!reload_kept_from_libmilter())
        log_warning("WARNING: libmilter's signal thread may take a SIGHUP and stop the milter: this build "
                    "lost its own sigwait() (see src/milter/signals.hpp); reload with care");
    if (register_filter() != MI_SUCCESS) return fail(DaemonExit::Failure, "smfi_register failed");
    if (smfi_setconn(socket.spec.data()) != MI_SUCCESS)
        return fail(DaemonExit::Config, "libmilter does not accept the socket '" + socket.spec + "'");
    smfi_settimeout(static_cast<int>(settings.timeout_seconds));

    try {
        if (socket.kind == SocketSpec::Kind::Unix) prepare_unix_socket(socket.path);
    } catch (const std::exception& e) {
        return fail(DaemonExit::SocketUnavailable, e.what());
    }
    // true: libmilter removes a socket file left at the path (we just made sure nobody listens on it).
    // The socket is born 0600 whatever the umask, so nobody else can connect before its mode is set.
    const mode_t umask_before = ::umask(0177);
    const bool opened = smfi_opensocket(true) == MI_SUCCESS;
    ::umask(umask_before);
    if (!opened) return fail(DaemonExit::SocketUnavailable, "cannot open the milter socket " + socket.spec);
    std::optional<SocketFileCleanup> socket_cleanup;
    if (socket.kind == SocketSpec::Kind::Unix)
        if (const auto id = socket_file_id(socket.path)) socket_cleanup.emplace(socket.path, *id);
    try {
        if (socket.kind == SocketSpec::Kind::Unix) {
            set_unix_socket_access(socket.path, settings.socket_mode.value_or(kDefaultSocketMode), settings.socket_group);
            // The unprivileged daemon must be able to remove its socket when it stops.
            if (identity && ::chown(socket.path.c_str(), identity->uid, static_cast<gid_t>(-1)) != 0)
                throw SocketError("cannot give the socket to user " + identity->user);
        }
    } catch (const std::exception& e) {
        return fail(DaemonExit::SocketUnavailable, e.what());
    }

    std::unique_ptr<Runtime> runtime;
    try {
        if (identity) {
            if (::geteuid() == 0) give_directory_to(settings.spool_directory, *identity);
            drop_privileges(*identity);
        }
        prepare_private_directory(settings.spool_directory);
    } catch (const std::exception& e) {
        return fail(DaemonExit::Failure, e.what());
    }
    try {
        // After the privilege drop, so the GnuPG home is read as the user the daemon runs as.
        runtime = std::make_unique<Runtime>(config, load_config, std::move(crypto), prepare_private_directory);
    } catch (const std::exception& e) {
        return fail(DaemonExit::Config, config->file.string() + ": [gnupg] unusable: " + e.what());
    }
    for (const auto& advice : gnupg_home_advice(config->gnupg.home)) log_warning(advice);
    // List the keyring now: a damaged one is said at start, not first noticed in a deferral.
    try {
        if (const auto services = runtime->current()->crypto; services && services->usable_key_count)
            log_info("keyring " + config->gnupg.home.string() + ": " + std::to_string(services->usable_key_count()) +
                     " usable key(s)");
    } catch (const std::exception& e) {
        log_error("the keyring cannot be used, mail to recipients who may have a key is deferred until it is fixed: " +
                  std::string(e.what()));
    }
    // Never destroyed: libmilter's detached worker threads may still be in a callback at exit.
    Runtime* shared_runtime = runtime.release();
    set_runtime(shared_runtime);

    std::unique_ptr<MetricsServer> metrics_server;  // stopped before the runtime's last users end
    if (!config->metrics.listen.empty()) {
        try {
            metrics_server = std::make_unique<MetricsServer>(
                config->metrics.listen,
                [shared_runtime] {
                    LiveGauges gauges{messages_in_progress(), connections_open(), shared_runtime->limiter().in_use(),
                                      shared_runtime->limiter().limit()};
                    return metrics_text(metrics().snapshot(), gauges);
                },
                [shared_runtime] { return check_health(*shared_runtime->current()); });
            log_info("metrics on http://" + config->metrics.listen + "/metrics, health on /health");
        } catch (const std::exception& e) {
            return fail(DaemonExit::Failure, e.what());
        }
    }

    std::atomic<int> milter_status{MI_SUCCESS};
    std::thread milter_thread;
    {
        const BlockedSignals blocked;  // smfi_main's thread and every thread it starts inherit the mask
        milter_thread = std::thread([&] {
            milter_status = smfi_main();
            signals.finished();
        });
    }
    const std::string listening = "listening on " + socket.spec + " with " +
                                  std::to_string(config->policy.domains.size()) + " local domain(s), up to " +
                                  std::to_string(shared_runtime->limiter().limit()) + " concurrent encryptions, engine " +
                                  std::string(to_string(config->gnupg.backend));
    log_info("mdcrypt-milter " MDCRYPT_VERSION " " + listening);
    // Ready in the sense Type=notify needs: smfi_opensocket has bound and listened above, so the MTA's
    // connection is queued by the kernel and served by smfi_main's thread, whose runtime is in place.
    notify_ready(listening);

    // smfi_stop() blocks until libmilter's listener leaves its 5-second poll(); it runs on a thread of
    // its own while this one pokes the socket to wake the listener at once (unix sockets only).
    std::thread stopper;
    for (;;) {
        const auto event = stopper.joinable() ? signals.wait_for(std::chrono::milliseconds(100)) : signals.wait();
        if (!event) {
            if (socket.kind == SocketSpec::Kind::Unix) poke_unix_socket(socket.path);
            continue;
        }
        if (*event == SignalPipe::Event::MilterFinished) break;
        if (*event == SignalPipe::Event::Reload) {
            log_info("SIGHUP: re-reading " + shared_runtime->current()->config->file.string());
            log_reload(shared_runtime->reload(), *shared_runtime);
        } else if (!stopper.joinable()) {
            log_info("stopping: no new connections; waiting for messages in progress");
            notify_stopping();
            stopper = std::thread([] { smfi_stop(); });
        }
    }
    const bool stop_requested = stopper.joinable();
    if (stop_requested)
        stopper.join();
    else
        notify_stopping();  // smfi_main ended on its own (a failure): stopping all the same
    milter_thread.join();
    socket_cleanup.reset();  // no new connections can arrive now
    finish_messages_in_progress(*shared_runtime);
    // libmilter's listener, woken while smfi_stop() closes the listening socket, can find it closed
    // before it sees the stop flag and then returns MI_FAILURE ("listenfd=-1 corrupted"): after a
    // requested stop that is the stop itself, not a failure.
    if (milter_status != MI_SUCCESS && !stop_requested) return fail(DaemonExit::Failure, "smfi_main failed");
    log_info("stopped");
    return DaemonExit::Ok;
}

}  // namespace mdcrypt::milter
