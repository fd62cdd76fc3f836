// mdcrypt-mailbox: encrypts mail already stored in Dovecot, in place, with the milter's policy, keys
// and engine. See mdcrypt-mailbox(8).
#include <sysexits.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "core/address.hpp"
#include "core/config.hpp"
#include "core/log_line.hpp"
#include "core/log_sink.hpp"
#include "core/private_temp_dir.hpp"
#include "crypto/encryptor_choice.hpp"
#include "crypto/gpg_engine.hpp"
#include "crypto/gpg_locale.hpp"
#include "crypto/gpg_multifile.hpp"
#include "crypto/gpg_operation.hpp"
#include "crypto/key_sources.hpp"
#include "mailbox/doveadm.hpp"
#include "mailbox/encryption_workers.hpp"
#include "mailbox/user_mailbox.hpp"

using namespace mdcrypt;

namespace {

std::atomic<bool> stop_requested{false};

// A stop (systemd, Ctrl-C) ends the run after the batch at hand; the journal makes any point safe,
// this only makes the end tidy (private directory removed, summary printed).
void stop_after_batch_on_termination() {
    struct sigaction action{};
    action.sa_handler = [](int) { stop_requested = true; };
    sigemptyset(&action.sa_mask);
    for (int signo : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(signo, &action, nullptr);
}

constexpr const char* kUsage =
    "usage: mdcrypt-mailbox --config FILE --user USER [--address ADDR] [--folder NAME]... [--dry-run]\n"
    "                       [--progress auto|bar|lines|none] [--one-gpg-per-message]\n"
    "       mdcrypt-mailbox --config FILE --all-users [--dry-run] [--progress auto|bar|lines|none]\n"
    "                       [--one-gpg-per-message]\n"
    "\n"
    "Encrypts a Dovecot user's stored messages in place (PGP/MIME, RFC 3156) with the policy, key sources\n"
    "and engine of mdcrypt-milter's configuration, through Dovecot itself (doveadm exec imap), keeping\n"
    "flags, keywords, received dates and folders. Already encrypted messages are left alone; so are\n"
    "messages whose policy or key says not to encrypt. A run killed at any point is finished by the\n"
    "next one. --all-users takes every user `doveadm user '*'` lists whose policy is not off.\n"
    "With the GPGME engine one gpg encrypts many messages (gpg --multifile); --one-gpg-per-message\n"
    "starts one for each, through GPGME, as the milter does.\n"
    "\n"
    "exit status: 0 nothing failed; 75 some messages or users failed (run again later); 78 bad\n"
    "             configuration; 64 bad usage\n";

struct Options {
    std::string config;
    std::string user;
    std::string address;
    std::vector<std::string> folders;
    bool all_users = false;
    bool dry_run = false;
    bool one_gpg_per_message = false;
    std::string progress = "auto";
};

int usage_error(const std::string& message) {
    std::cerr << "mdcrypt-mailbox: " << message << "\n" << kUsage;
    return EX_USAGE;
}

// Whether the policy says anything but "off" for the address.
bool policy_encrypts(const Policy& policy, const std::string& address) {
    const auto parsed = parse_address(address);
    if (!parsed) return false;
    const auto entry = policy.for_recipient(*parsed);
    return entry && entry->mode != Mode::Off;
}

}  // namespace

int main(int argc, char** argv) {
    pin_gpg_locale();
    Options options;
    const std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        const bool has_value = i + 1 < args.size();
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            return EX_OK;
        }
        if (arg == "--version") {
            std::cout << "mdcrypt-mailbox " MDCRYPT_VERSION "\n";
            return EX_OK;
        }
        if (arg == "--all-users") options.all_users = true;
        else if (arg == "--dry-run") options.dry_run = true;
        else if (arg == "--one-gpg-per-message") options.one_gpg_per_message = true;
        else if (arg == "--config" && has_value) options.config = args[++i];
        else if (arg == "--user" && has_value) options.user = args[++i];
        else if (arg == "--address" && has_value) options.address = args[++i];
        else if (arg == "--folder" && has_value) options.folders.push_back(args[++i]);
        else if (arg == "--progress" && has_value) options.progress = args[++i];
        else return usage_error("unknown or incomplete argument: " + arg);
    }
    if (options.config.empty()) return usage_error("--config is required");
    if (options.all_users == !options.user.empty()) return usage_error("give either --user USER or --all-users");
    if (options.all_users && (!options.address.empty() || !options.folders.empty()))
        return usage_error("--address and --folder go with --user");
    const auto progress = parse_progress_style(options.progress, ::isatty(STDERR_FILENO) == 1);
    if (!progress) return usage_error("--progress takes auto, bar, lines or none, not '" + options.progress + "'");

    init_logging({.ident = "mdcrypt-mailbox", .to_syslog = true, .to_stderr = true,
                  .stderr_threshold = Severity::Warning, .verbose = false});
    std::shared_ptr<const Config> config;
    try {
        config = load_config(options.config);
    } catch (const std::exception& e) {
        log_error(e.what());
        return EX_CONFIG;
    }

    try {
        std::vector<UserMailboxOptions> users;
        if (options.all_users) {
            const DoveadmResult listed = run_doveadm(config->mailbox, {"user", "*"});
            if (listed.exit_code != 0) {
                log_error("doveadm user '*' failed (exit " + std::to_string(listed.exit_code) + "): " + listed.errors);
                return EX_TEMPFAIL;
            }
            std::size_t start = 0;
            while (start < listed.output.size()) {
                const auto end = listed.output.find('\n', start);
                const std::string name = listed.output.substr(start, end == std::string::npos ? std::string::npos : end - start);
                start = end == std::string::npos ? listed.output.size() : end + 1;
                if (name.empty()) continue;
                const std::string address = address_for_user(name, config->mailbox);
                if (address.empty() || !policy_encrypts(config->policy, address)) continue;
                users.push_back({name, address, {}, options.dry_run, *progress});
            }
        } else {
            const std::string address = options.address.empty() ? address_for_user(options.user, config->mailbox) : options.address;
            if (address.empty())
                return usage_error("user '" + options.user + "' has no '@': give --address or set [mailbox] address_domain");
            users.push_back({options.user, address, options.folders, options.dry_run, *progress});
        }

        PrivateTempDir private_dir("mdcrypt-mailbox");
        const KeySources keys(config->gnupg);
        const std::shared_ptr<Encryptor> encryptor = make_encryptor(config->gnupg, private_dir.path());
        const KeyLookupFn lookup = [&](std::string_view address, std::int64_t now) { return keys.lookup(address, now); };
        // With the GPGME engine, gpg is started from worker processes forked now, while this process
        // has one thread (encryption_workers.hpp says why); librnp encrypts in the tool's threads.
        std::optional<EncryptionWorkers> workers;
        if (config->gnupg.backend == EngineBackend::Gpgme) {
            const StoredEncryptionServices in_worker{config->policy, lookup, *encryptor, mailbox_spool(*config, private_dir.path())};
            workers.emplace(mailbox_encryption_threads(), private_dir.path(), [in_worker](const StoredMessageJob& job, ByteSource& in, ByteSink& out) {
                return encrypt_stored_message(in_worker, job, in, out);
            });
        }
        std::optional<GpgMultifileEncryptor> multifile;
        if (config->gnupg.backend == EngineBackend::Gpgme && !options.one_gpg_per_message) {
            const GpgEngine engine(config->gnupg.home, config->gnupg.gpg_program, std::chrono::seconds(config->gnupg.timeout_seconds));
            multifile.emplace(engine.gpg_program(), engine.home(), config->gnupg.trust_model, engine.timeout());
        }
        const MailboxServices services{*config, lookup, *encryptor, private_dir.path(), &stop_requested,
                                       workers ? &*workers : nullptr, multifile ? &*multifile : nullptr};
        stop_after_batch_on_termination();

        bool any_failed = false;
        for (const auto& user : users) {
            if (stop_requested) {
                any_failed = true;
                break;
            }
            const UserMailboxResult result = encrypt_user_mailbox(services, user, std::cerr, std::cout);
            for (const auto& error : result.errors) std::cout << "mdcrypt-mailbox: " << user.user << ": error: " << error << "\n";
            std::cout << summary_line(user.user, result.counts, user.dry_run, result.errors.empty()) << std::endl;
            LogLine line;
            line.add("user", user.user).add(user.dry_run ? "would_encrypt" : "encrypted", result.counts.encrypted)
                .add("already_protected", result.counts.already_protected).add("left_plain", result.counts.left_plain)
                .add("failed", result.counts.failed).add("recovered", result.recovered)
                .add("completed", result.errors.empty());
            log_info(line.str());
            any_failed = any_failed || result.counts.failed > 0 || !result.errors.empty();
        }
        return any_failed ? EX_TEMPFAIL : EX_OK;
    } catch (const std::exception& e) {
        log_error(e.what());
        return EX_TEMPFAIL;
    }
}
