// One user's stored mail, encrypted in place through Dovecot: finish what an earlier run left in
// flight (journal), then each message of each folder: fetch, decide and encrypt with the core,
// store the encrypted copy with the original's flags and date, expunge the original. Afterwards the
// folders' caches (and mdbox files) are purged so no plaintext of a replaced message stays behind.
#pragma once

#include <atomic>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "core/batch_encryptor.hpp"
#include "core/config.hpp"
#include "core/decision.hpp"
#include "core/encryptor.hpp"
#include "core/spool.hpp"
#include "mailbox/outcome.hpp"
#include "mailbox/progress.hpp"

namespace mdcrypt {

class EncryptionWorkers;

struct UserMailboxOptions {
    std::string user;     // Dovecot's user name
    std::string address;  // whose policy and key decide
    std::vector<std::string> folders;  // IMAP names; empty = every selectable folder
    bool dry_run = false;
    ProgressStyle progress = ProgressStyle::None;
};

struct UserMailboxResult {
    MailboxCounts counts;
    std::uint64_t recovered = 0;   // replacements of an interrupted run finished
    std::vector<std::string> errors;  // what stopped the run or a cleanup step; empty = completed
};

struct MailboxServices {
    const Config& config;
    const KeyLookupFn& lookup;
    Encryptor& encryptor;
    std::filesystem::path private_dir;  // 0700: spooled messages, the imap process's stderr
    const std::atomic<bool>* stop = nullptr;  // set by a signal: end after the batch at hand
    EncryptionWorkers* workers = nullptr;  // encrypt in these processes; null: on the tool's threads
    // Set (the GPGME engine): a batch's messages to keyring keys are encrypted together, one engine
    // run per key set and CPU (recorded_encryption.hpp); the rest go one by one as above.
    const BatchEncryptor* batch = nullptr;
};

// How many messages are encrypted at once (threads, and worker processes with the GPGME engine):
// two per CPU: a gpg run waits on process start-up and I/O about as long as it computes.
unsigned mailbox_encryption_threads();

// Where a message being encrypted is kept: a batch holds up to 50 bodies twice (original, encrypted),
// so 256 KB each in memory at most (less if [milter] body_memory_limit says so), the rest in files.
SpoolSettings mailbox_spool(const Config& config, const std::filesystem::path& private_dir);

// Never throws for a user's trouble: each failure is in the result (and logged).
UserMailboxResult encrypt_user_mailbox(const MailboxServices& services, const UserMailboxOptions& options,
                                       std::ostream& progress_out, std::ostream& report_out);

// The address for a Dovecot user name: the name when it has '@', else name@address_domain; empty
// when neither gives one.
std::string address_for_user(const std::string& user, const MailboxSettings& settings);

}  // namespace mdcrypt
