#include "mailbox/user_mailbox.hpp"

#include <fcntl.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "core/log_line.hpp"
#include "core/log_sink.hpp"
#include "core/pipe_filter.hpp"
#include "core/text.hpp"
#include "mailbox/doveadm.hpp"
#include "mailbox/imap_session.hpp"
#include "mailbox/imap_value.hpp"
#include "mailbox/journal.hpp"
#include "mailbox/mutf7.hpp"

namespace fs = std::filesystem;

namespace mdcrypt {

namespace {

// Discards what is written (a dry run's encrypted output), counting nothing.
class NullSink final : public ByteSink {
public:
    void write(std::string_view) override {}
};

class FileSource final : public ByteSource {
public:
    explicit FileSource(const fs::path& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        if (!fd_) throw std::runtime_error("cannot open " + path.string());
    }
    std::size_t read(std::span<char> out) override {
        for (;;) {
            const ssize_t n = ::read(fd_.get(), out.data(), out.size());
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw std::runtime_error("cannot read a journal message file");
            return static_cast<std::size_t>(n);
        }
    }

private:
    FileDescriptor fd_;
};

bool has_flag(const std::vector<std::string>& flags, std::string_view flag) {
    return std::any_of(flags.begin(), flags.end(), [&](const std::string& f) { return iequals(f, flag); });
}

class UserRun {
public:
    UserRun(const MailboxServices& services, const UserMailboxOptions& options, std::ostream& progress_out,
            std::ostream& report_out)
        : services_(services), options_(options), progress_out_(progress_out), report_out_(report_out),
          spool_{services.private_dir, services.config.milter.body_memory_limit} {}

    UserMailboxResult run() {
        try {
            const fs::path& state = services_.config.mailbox.state_directory;
            prepare_private_directory(state);
            Journal journal(state / journal_directory_name(options_.user));
            ImapProcess process(services_.config.mailbox, options_.user, services_.private_dir);
            try {
                ImapSession session(ImapConnection(process.take_to_imap(), process.take_from_imap(), spool_));
                session.start();
                if (!options_.dry_run) recover(session, journal);
                else if (!journal.pending().empty())
                    report_out_ << "mdcrypt-mailbox: " << options_.user << ": " << journal.pending().size()
                                << " replacement(s) of an interrupted run would be finished\n";
                process_folders(session, journal);
                if (!options_.dry_run) journal.compact();
                session.logout();
            } catch (const std::exception& e) {
                const std::string tail = process.stderr_tail();
                fail(std::string(e.what()) + (tail.empty() ? "" : " (doveadm: " + std::string(trim_right(tail)) + ")"));
            }
        } catch (const std::exception& e) {
            fail(e.what());
        }
        if (!options_.dry_run && !touched_.empty()) purge_caches();
        return std::move(result_);
    }

private:
    void fail(const std::string& what) {
        result_.errors.push_back(what);
        LogLine line;
        line.add("user", options_.user).add("error", what);
        log_error(line.str());
    }

    void recover(ImapSession& session, Journal& journal) {
        const std::vector<JournalEntry> pending = journal.pending();
        for (const JournalEntry& entry : pending) {
            SelectedFolder selected;
            try {
                selected = session.select(entry.folder);
            } catch (const ImapCommandError& e) {
                // The folder is gone (deleted by the user): so is the message.
                log_warning(LogLine().add("user", options_.user).add("folder", entry.folder)
                                .add("recovery", "folder gone, replacement dropped").str());
                journal.end(entry.token);
                continue;
            }
            if (selected.uid_validity != entry.uid_validity) {
                log_warning(LogLine().add("user", options_.user).add("folder", entry.folder)
                                .add("recovery", "UIDVALIDITY changed, replacement dropped").str());
                journal.end(entry.token);
                continue;
            }
            const std::optional<MessageState> original = session.fetch_state(entry.uid);
            const bool copy_stored =
                !original && !session.search_header("Content-Type", token_boundary(entry.token, 0).substr(0, 40)).empty();
            switch (recovery_for(original.has_value(), copy_stored)) {
                case Recovery::RestoreOriginal:
                    if (has_flag(original->flags, "\\Deleted") && !has_flag(entry.flags, "\\Deleted")) {
                        std::vector<std::string> flags = original->flags;
                        std::erase_if(flags, [](const std::string& f) { return iequals(f, "\\Deleted"); });
                        session.replace_flags(entry.uid, flags);
                    }
                    break;
                case Recovery::KeepCopy:
                    break;
                case Recovery::AppendCopy: {
                    const fs::path file = journal.message_file(entry.token);
                    FileSource source(file);
                    session.append(entry.folder, entry.flags, entry.internal_date, source, fs::file_size(file), entry.uid_validity);
                    touched_.insert(entry.folder);
                    break;
                }
            }
            journal.end(entry.token);
            ++result_.recovered;
        }
        if (result_.recovered > 0)
            report_out_ << "mdcrypt-mailbox: " << options_.user << ": finished " << result_.recovered
                        << " replacement(s) of an interrupted run\n";
    }

    std::vector<std::string> folders(ImapSession& session) {
        if (!options_.folders.empty()) return options_.folders;
        std::vector<std::string> names;
        for (const auto& f : session.list_folders())
            if (f.selectable) names.push_back(f.name);
        return names;
    }

    void process_folders(ImapSession& session, Journal& journal) {
        const std::vector<std::string> names = folders(session);
        std::uint64_t total = 0;
        for (const auto& name : names) total += session.count_messages(name);
        ProgressReporter progress(options_.progress, progress_out_, options_.user);
        progress.set_total(total);
        for (const auto& name : names) {
            const SelectedFolder selected = session.select(name);
            MailboxCounts folder_counts;
            for (const std::uint32_t uid : session.uids()) {
                const std::optional<StoredOutcome> outcome = process_message(session, journal, name, selected, uid);
                progress.step();
                if (!outcome) continue;  // expunged meanwhile
                folder_counts.add(*outcome);
                result_.counts.add(*outcome);
            }
            report_out_ << "mdcrypt-mailbox: " << options_.user << ": folder " << imap_quoted(name) << ": "
                        << (options_.dry_run ? "would encrypt " : "encrypted ") << folder_counts.encrypted
                        << ", already protected " << folder_counts.already_protected << ", left plain "
                        << folder_counts.left_plain << ", failed " << folder_counts.failed << "\n";
        }
        progress.finish();
    }

    std::optional<StoredOutcome> process_message(ImapSession& session, Journal& journal, const std::string& folder,
                                                  const SelectedFolder& selected, std::uint32_t uid) {
        std::optional<FetchedMessage> fetched = session.fetch_message(uid);
        if (!fetched) return std::nullopt;
        const std::string token = new_journal_token();
        unsigned counter = 0;
        const BoundaryGenerator boundaries = [&] { return token_boundary(token, counter++); };
        const SpoolSettings& spool = spool_;
        const ProcessContext context{services_.config.policy, services_.lookup, services_.encryptor, spool, boundaries,
                                     static_cast<std::int64_t>(std::time(nullptr))};
        const std::vector<std::string> recipients{options_.address};
        Spool encrypted(spool_);
        FilterReport report;
        try {
            auto in = fetched->body.reader();
            NullSink discard;
            report = run_pipe_filter(context, recipients, *in, options_.dry_run ? static_cast<ByteSink&>(discard) : encrypted);
        } catch (const std::exception& e) {
            report.exit = FilterExit::TempFail;
            report.error = e.what();
        }
        const StoredOutcome outcome = outcome_of(report);
        if (outcome == StoredOutcome::Failed) {
            LogLine line;
            line.add("user", options_.user).add("folder", folder).add("uid", static_cast<std::uint64_t>(uid));
            line.add("reason", report.error.empty() ? report.result.decision.reason : report.error);
            log_error(line.str());
        }
        if (outcome != StoredOutcome::Encrypted || options_.dry_run) return outcome;

        JournalEntry entry{token, folder, selected.uid_validity, uid, fetched->state.internal_date, fetched->state.flags};
        {
            auto reader = encrypted.reader();
            journal.begin(entry, *reader);
        }
        // \Deleted only if nobody changed the flags since they were read; else carry the new flags over.
        std::uint64_t modseq = fetched->state.modseq;
        for (int attempt = 0;; ++attempt) {
            if (session.mark_deleted_unchanged_since(uid, modseq)) break;
            const std::optional<MessageState> now = session.fetch_state(uid);
            if (!now || attempt == 20) {
                journal.end(token);
                return now ? std::optional(StoredOutcome::Failed) : std::nullopt;
            }
            journal.update_flags(token, now->flags);
            entry.flags = now->flags;
            modseq = now->modseq;
        }
        if (!session.fetch_state(uid)) {  // expunged by a client before the mark: the user deleted it
            journal.end(token);
            return std::nullopt;
        }
        if (!session.expunge(uid) && session.fetch_state(uid))
            throw ImapProtocolError("IMAP UID EXPUNGE " + std::to_string(uid) + " in '" + folder + "' left the message in place");
        touched_.insert(folder);
        {
            const fs::path file = journal.message_file(token);
            FileSource source(file);
            session.append(folder, entry.flags, entry.internal_date, source, fs::file_size(file), selected.uid_validity);
        }
        journal.end(token);
        return outcome;
    }

    // Dovecot keeps header fields and snippets of messages in dovecot.index.cache, and mdbox keeps
    // expunged messages in its m.* files until purged: both would still hold the plaintext.
    void purge_caches() {
        const MailboxSettings& settings = services_.config.mailbox;
        std::vector<std::string> args{"mailbox", "cache", "purge", "-u", options_.user};
        for (const auto& folder : touched_) {
            const auto utf8 = mutf7_to_utf8(folder);
            args.push_back(utf8 ? *utf8 : folder);
        }
        for (const auto& command : {args, std::vector<std::string>{"purge", "-u", options_.user}}) {
            const DoveadmResult r = run_doveadm(settings, command);
            if (r.exit_code != 0) {
                std::string text;
                for (const auto& a : doveadm_argv(settings, command)) text += (text.empty() ? "" : " ") + a;
                fail("'" + text + "' failed (exit " + std::to_string(r.exit_code) + "): " + std::string(trim_right(r.errors)) +
                     "; plaintext of replaced messages may remain in Dovecot's files until it succeeds");
            }
        }
    }

    const MailboxServices& services_;
    const UserMailboxOptions& options_;
    std::ostream& progress_out_;
    std::ostream& report_out_;
    SpoolSettings spool_;
    UserMailboxResult result_;
    std::set<std::string> touched_;
};

}  // namespace

std::string address_for_user(const std::string& user, const MailboxSettings& settings) {
    if (user.find('@') != std::string::npos) return user;
    if (settings.address_domain.empty()) return {};
    return user + "@" + settings.address_domain;
}

UserMailboxResult encrypt_user_mailbox(const MailboxServices& services, const UserMailboxOptions& options,
                                       std::ostream& progress_out, std::ostream& report_out) {
    return UserRun(services, options, progress_out, report_out).run();
}

}  // namespace mdcrypt
