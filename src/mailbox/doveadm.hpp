// Dovecot's admin tool as mdcrypt-mailbox uses it, run without a shell: a pre-authenticated IMAP
// session for a user (`doveadm exec imap -u USER`: Dovecot's own imap process on pipes, so its
// indexes stay consistent and every storage format works), and the commands that list users and
// drop what the cache and mdbox files still hold of expunged messages.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/file_descriptor.hpp"

namespace mdcrypt {

// A running `doveadm exec imap`: write commands to `to_imap`, read responses from `from_imap`.
// Its stderr goes to an unlinked file in the private directory, shown when the session fails.
class ImapProcess {
public:
    ImapProcess(const MailboxSettings& settings, const std::string& user, const std::filesystem::path& private_dir);
    ImapProcess(const ImapProcess&) = delete;
    ImapProcess& operator=(const ImapProcess&) = delete;
    ~ImapProcess();  // closes the pipes and reaps the process (killing it if it lingers)

    FileDescriptor take_to_imap() { return std::move(to_imap_); }
    FileDescriptor take_from_imap() { return std::move(from_imap_); }
    // The end of what the process wrote to stderr (at most 2 KB), for an error message.
    std::string stderr_tail() const;

private:
    pid_t pid_ = -1;
    FileDescriptor to_imap_;
    FileDescriptor from_imap_;
    FileDescriptor stderr_file_;
};

struct DoveadmResult {
    int exit_code = -1;  // -1: killed or not started
    std::string output;  // stdout, at most 16 MB
    std::string errors;  // stderr, at most 16 KB
};

// `doveadm [-c CONFIG] ARGS...`; waits for it.
DoveadmResult run_doveadm(const MailboxSettings& settings, const std::vector<std::string>& args);

// The argv for `doveadm [-c CONFIG] ARGS...` (pure, for tests and logs).
std::vector<std::string> doveadm_argv(const MailboxSettings& settings, const std::vector<std::string>& args);

}  // namespace mdcrypt
