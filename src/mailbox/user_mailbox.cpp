#include "mailbox/user_mailbox.hpp"

#include <fcntl.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <future>
#include <thread>
#include <ctime>
#include <map>
#include <mutex>
#include <set>

#include "core/log_line.hpp"
#include "core/header.hpp"
#include "core/log_sink.hpp"
#include "core/protection_detect.hpp"
#include "core/text.hpp"
#include "mailbox/doveadm.hpp"
#include "mailbox/encryption_workers.hpp"
#include "mailbox/imap_session.hpp"
#include "mailbox/imap_value.hpp"
#include "mailbox/journal.hpp"
#include "mailbox/mutf7.hpp"
#include "mailbox/recorded_encryption.hpp"

namespace fs = std::filesystem;

namespace mdcrypt {

namespace {

// Discards what is written (a dry run's encrypted output), counting nothing.
class NullSink final : public ByteSink {
public:
    void write(std::string_view) override {}
};

// A folder's name for people: UTF-8 where IMAP sends modified UTF-7.
std::string display_name(const std::string& imap_name) {
    const auto utf8 = mutf7_to_utf8(imap_name);
    return utf8 ? *utf8 : imap_name;
}

bool has_flag(const std::vector<std::string>& flags, std::string_view flag) {
    return std::any_of(flags.begin(), flags.end(), [&](const std::string& f) { return iequals(f, flag); });
}

class UserRun {
public:
    UserRun(const MailboxServices& services, const UserMailboxOptions& options, std::ostream& progress_out,
            std::ostream& report_out)
        : services_(services), options_(options), progress_out_(progress_out), report_out_(report_out),
          spool_(mailbox_spool(services.config, services.private_dir)) {}

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
                                << " replacement(s) of an interrupted run would be finished" << std::endl;
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
        if (batch_fallbacks_ > 1)
            log_warning(LogLine().add("user", options_.user).add("batch_encryption", "failed for some, encrypted one by one")
                            .add("messages", batch_fallbacks_.load()).str());
        for (const auto& [reason, count] : failures_)
            report_out_ << "mdcrypt-mailbox: " << options_.user << ": " << count << " message(s) left as they were: " << reason << "\n";
        return std::move(result_);
    }

private:
    void fail(const std::string& what) {
        result_.errors.push_back(what);
        LogLine line;
        line.add("user", options_.user).add("error", what);
        log_error(line.str());
    }

    // Per folder, in few commands: originals still there get back their flags (the \Deleted this
    // tool set goes), and copies whose original is gone are stored unless they already are.
    void recover(ImapSession& session, Journal& journal) {
        std::vector<std::string> folder_order;
        for (const auto& e : journal.pending())
            if (std::find(folder_order.begin(), folder_order.end(), e.folder) == folder_order.end()) folder_order.push_back(e.folder);
        for (const std::string& folder : folder_order) {
            std::vector<JournalEntry> entries;
            for (const auto& e : journal.pending())
                if (e.folder == folder) entries.push_back(e);
            std::vector<std::string> tokens;
            for (const auto& e : entries) tokens.push_back(e.token);
            SelectedFolder selected;
            try {
                selected = session.select(folder);
            } catch (const ImapCommandError& e) {
                // The folder is gone (deleted by the user): so are its messages.
                log_warning(LogLine().add("user", options_.user).add("folder", folder)
                                .add("recovery", "folder gone, replacements dropped").add("error", e.what()).str());
                journal.end(tokens);
                continue;
            }
            // Dovecot rebuilt the folder's index (new UIDVALIDITY): the old UIDs say nothing, so
            // whether an original survived is unknown. A copy not yet stored is stored: at worst
            // a message is there twice (plain and encrypted) rather than lost.
            const bool uids_valid = selected.uid_validity == entries.front().uid_validity;
            if (!uids_valid)
                log_warning(LogLine().add("user", options_.user).add("folder", folder)
                                .add("recovery", "UIDVALIDITY changed; copies not found are stored, originals may remain").str());
            std::vector<std::uint32_t> uids;
            for (const auto& e : entries) uids.push_back(e.uid);
            std::sort(uids.begin(), uids.end());
            const std::vector<std::uint32_t> present = uids_valid ? session.existing(uids) : std::vector<std::uint32_t>{};
            std::vector<std::unique_ptr<ByteSource>> sources;
            std::vector<ImapSession::Append> appends;
            for (const auto& e : entries) {
                const bool original_exists = std::binary_search(present.begin(), present.end(), e.uid);
                const bool copy_stored =
                    !original_exists && !session.search_header("Content-Type", token_boundary(e.token, 0).substr(0, 40)).empty();
                switch (recovery_for(original_exists, copy_stored)) {
                    case Recovery::RestoreOriginal:
                        if (!has_flag(e.flags, "\\Deleted")) session.clear_deleted(e.uid);
                        break;
                    case Recovery::KeepCopy:
                        break;
                    case Recovery::AppendCopy:
                        sources.push_back(journal.copy_of(e));
                        appends.push_back({e.flags, e.internal_date, sources.back().get(), e.length});
                        break;
                }
            }
            if (!appends.empty()) {
                session.append(folder, appends, selected.uid_validity);
                touched_.insert(folder);
            }
            journal.end(tokens);
            result_.recovered += entries.size();
        }
        if (result_.recovered > 0)
            report_out_ << "mdcrypt-mailbox: " << options_.user << ": finished " << result_.recovered
                        << " replacement(s) of an interrupted run" << std::endl;
    }

    // Every selectable folder, or the ones named (as IMAP spells them, or in UTF-8 as printed).
    std::vector<std::string> folders(ImapSession& session) {
        std::vector<std::string> names;
        const std::vector<ImapFolder> listed = session.list_folders();
        if (options_.folders.empty()) {
            for (const auto& f : listed)
                if (f.selectable) names.push_back(f.name);
            return names;
        }
        for (const auto& wanted : options_.folders) {
            const auto it = std::find_if(listed.begin(), listed.end(), [&](const ImapFolder& f) {
                return f.selectable && (f.name == wanted || display_name(f.name) == wanted);
            });
            if (it == listed.end()) fail("no folder named '" + wanted + "'");
            else names.push_back(it->name);
        }
        return names;
    }

    void process_folders(ImapSession& session, Journal& journal) {
        const std::vector<std::string> names = folders(session);
        std::uint64_t total = 0;
        for (const auto& name : names) total += session.count_messages(name);
        ProgressReporter progress(options_.progress, progress_out_, options_.user);
        progress.set_total(total);
        for (const auto& name : names) {
            SelectedFolder selected;
            try {
                selected = session.select(name);
            } catch (const ImapCommandError& e) {  // deleted or renamed meanwhile: the others go on
                fail(e.what());
                continue;
            }
            MailboxCounts folder_counts;
            const auto count = [&](const std::vector<StoredOutcome>& outcomes, std::size_t messages) {
                for (const StoredOutcome outcome : outcomes) {
                    folder_counts.add(outcome);
                    result_.counts.add(outcome);
                }
                progress.step(messages);
            };
            // Batch k+1 is encrypted on the workers while batch k is stored: the IMAP session and
            // the encryption engine work at the same time.
            const std::vector<std::uint32_t> uids = session.uids();
            std::unique_ptr<Batch> stored_next;
            for (std::size_t start = 0; start < uids.size(); start += kBatchMessages) {
                // Between batches nothing of this one is in the journal yet, so a stop here is tidy.
                if (services_.stop && services_.stop->load())
                    throw std::runtime_error("stopped by a signal; the next run goes on from here");
                std::unique_ptr<Batch> batch = fetch_batch(session, std::vector<std::uint32_t>(
                    uids.begin() + static_cast<std::ptrdiff_t>(start),
                    uids.begin() + static_cast<std::ptrdiff_t>(std::min(uids.size(), start + kBatchMessages))));
                std::future<void> encrypting = std::async(std::launch::async, [&] { encrypt_batch(*batch, name); });
                if (stored_next) {
                    const std::size_t messages = stored_next->uids.size();
                    count(commit_batch(session, journal, name, selected, *stored_next), messages);
                }
                encrypting.get();
                stored_next = std::move(batch);
            }
            if (stored_next) count(commit_batch(session, journal, name, selected, *stored_next), stored_next->uids.size());
            report_out_ << "mdcrypt-mailbox: " << options_.user << ": folder " << imap_quoted(display_name(name)) << ": "
                        << (options_.dry_run ? "would encrypt " : "encrypted ") << folder_counts.encrypted
                        << ", already protected " << folder_counts.already_protected << ", left plain "
                        << folder_counts.left_plain << ", failed " << folder_counts.failed << std::endl;
        }
        progress.finish();
    }

    struct Candidate {
        FetchedMessage fetched;
        std::string token;
        std::optional<Spool> encrypted;
        StoredOutcome outcome = StoredOutcome::Failed;
    };

    struct Batch {
        std::vector<std::uint32_t> uids;
        std::vector<Candidate> candidates;  // the messages of `uids` that still existed
        std::uint64_t modseq = 0;           // the highest the fetch returned
        // Every message of the batch is for the same address: one key lookup for all of them.
        std::mutex lookup_mutex;
        std::optional<KeyLookup> looked_up;
        KeyLookupFn lookup;
        std::int64_t now = 0;  // seconds since the epoch, the same for every run of the core on the batch
    };

    std::unique_ptr<Batch> fetch_batch(ImapSession& session, std::vector<std::uint32_t> uids) {
        auto batch = std::make_unique<Batch>();
        batch->uids = std::move(uids);
        for (FetchedMessage& m : session.fetch_messages(batch->uids)) {
            batch->modseq = std::max(batch->modseq, m.state.modseq);
            batch->candidates.push_back({std::move(m), new_journal_token(), std::nullopt, StoredOutcome::Failed});
        }
        return batch;
    }

    void encrypt_batch(Batch& batch, const std::string& folder) {
        batch.lookup = [&batch, this](std::string_view address, std::int64_t now) {
            std::lock_guard lock(batch.lookup_mutex);
            if (!batch.looked_up) batch.looked_up = services_.lookup(address, now);
            return *batch.looked_up;
        };
        batch.now = static_cast<std::int64_t>(std::time(nullptr));
        if (services_.batch) {
            encrypt_batch_together(batch, folder);
            return;
        }
        for_each_parallel(batch.candidates.size(), [&](std::size_t i) {
            Candidate& c = batch.candidates[i];
            settle(c, run_core(c, batch, nullptr), folder);
        });
    }

    // `task(i)` for i in [0, count) on up to workers_ threads, this one included.
    void for_each_parallel(std::size_t count, const std::function<void(std::size_t)>& task) const {
        std::atomic<std::size_t> next{0};
        const auto work = [&] {
            for (std::size_t i; (i = next++) < count;) task(i);
        };
        std::vector<std::jthread> threads;
        for (unsigned t = 1; t < workers_ && t < count; ++t) threads.emplace_back(work);
        work();
    }

    // Three passes (recorded_encryption.hpp): the core records what each message needs; one engine
    // run per key set and CPU encrypts the recorded entities; the core runs again with the
    // ciphertext. A message the batch could not take (key blocks) or whose encryption failed in
    // it goes the per-message way, which gives it its own verdict.
    void encrypt_batch_together(Batch& batch, const std::string& folder) {
        const std::size_t count = batch.candidates.size();
        std::vector<std::optional<RecordedEncryption>> recorded(count);
        std::vector<StoredVerdict> first(count);
        for_each_parallel(count, [&](std::size_t i) {
            // Nothing this run writes is kept: a message it would encrypt is recorded, and the others
            // are not stored again.
            RecordingEncryptor recorder(services_.private_dir);
            NullSink discard;
            first[i] = run_core(batch.candidates[i], batch, &recorder, discard);
            recorded[i] = recorder.take();
        });

        // Same keys, one run; a key set's messages split into one run per CPU.
        std::map<std::vector<std::string>, std::vector<std::size_t>> by_keys;
        for (std::size_t i = 0; i < count; ++i)
            if (recorded[i])
                if (std::vector<std::string> fingerprints = keyring_fingerprints(*recorded[i]); !fingerprints.empty())
                    by_keys[std::move(fingerprints)].push_back(i);
        struct Run {
            const std::vector<std::string>* fingerprints;
            std::vector<std::size_t> messages;
        };
        std::vector<Run> runs;
        const std::size_t cpus = std::max(1u, std::thread::hardware_concurrency());
        for (const auto& [fingerprints, messages] : by_keys) {
            const std::size_t parts = std::min(cpus, messages.size());
            for (std::size_t p = 0; p < parts; ++p) {
                Run run{&fingerprints, {}};
                for (std::size_t k = p; k < messages.size(); k += parts) run.messages.push_back(messages[k]);
                runs.push_back(std::move(run));
            }
        }
        std::vector<std::optional<Spool>> ciphertext(count);
        {
            std::vector<std::jthread> threads;
            for (const Run& run : runs)
                threads.emplace_back([&, this] {
                    try {
                        std::vector<int> files;
                        for (const std::size_t i : run.messages) files.push_back(recorded[i]->plaintext.get());
                        std::vector<BatchEncrypted> results = services_.batch->encrypt_files(files, *run.fingerprints, spool_);
                        for (std::size_t k = 0; k < run.messages.size(); ++k) {
                            if (results[k].armored) ciphertext[run.messages[k]] = std::move(results[k].armored);
                            else note_batch_failure(results[k].error);
                        }
                    } catch (const std::exception& e) {  // out of memory, say: these go one by one
                        for (const std::size_t i : run.messages) ciphertext[i].reset();
                        note_batch_failure(e.what());
                    }
                });
        }

        for_each_parallel(count, [&](std::size_t i) {
            Candidate& c = batch.candidates[i];
            if (!recorded[i]) {
                settle(c, first[i], folder);
            } else if (ciphertext[i]) {
                ReplayingEncryptor replay(*recorded[i], *ciphertext[i]);
                settle(c, run_core(c, batch, &replay), folder);
            } else {
                settle(c, run_core(c, batch, nullptr), folder);
            }
            recorded[i].reset();
            ciphertext[i].reset();
        });
    }

    // The first message a batch run failed is logged with the reason, the count at the end; each
    // goes one by one.
    void note_batch_failure(const std::string& reason) {
        if (batch_fallbacks_++ == 0)
            log_warning(LogLine().add("user", options_.user).add("batch_encryption", "failed, encrypting one by one")
                            .add("reason", reason).str());
    }

    // Decides and encrypts one message with the core, as the pipe filter does for its address, into
    // c.encrypted (nothing on a dry run).
    StoredVerdict run_core(Candidate& c, const Batch& batch, Encryptor* encryptor) {
        NullSink discard;
        c.encrypted.reset();
        if (!options_.dry_run) c.encrypted.emplace(spool_);
        return run_core(c, batch, encryptor, options_.dry_run ? static_cast<ByteSink&>(discard) : *c.encrypted);
    }

    // The same into `out`: with `encryptor` on this thread when given, else in a worker process with
    // the GPGME engine (encryption_workers.hpp says why), else on this thread with the tool's encryptor.
    StoredVerdict run_core(const Candidate& c, const Batch& batch, Encryptor* encryptor, ByteSink& out) {
        const StoredMessageJob job{options_.address, c.token, batch.now};
        try {
            auto in = c.fetched.body.reader();
            if (!encryptor && services_.workers) return services_.workers->run(job, *in, out);
            return encrypt_stored_message({services_.config.policy, batch.lookup, encryptor ? *encryptor : services_.encryptor, spool_},
                                          job, *in, out);
        } catch (const std::exception& e) {
            return {StoredOutcome::Failed, e.what()};
        }
    }

    // The message's outcome from the core's verdict; a failure is logged the first time its reason
    // is seen (counted at the end).
    void settle(Candidate& c, const StoredVerdict& verdict, const std::string& folder) {
        c.outcome = verdict.outcome;
        // The core defers an encrypted message too when the key lookup fails (the milter must not
        // pass it on an unknown verdict); stored ciphertext needs no key: it stays, counted as such.
        if (c.outcome == StoredOutcome::Failed && is_protected(c.fetched.body)) c.outcome = StoredOutcome::AlreadyProtected;
        if (c.outcome != StoredOutcome::Encrypted) c.encrypted.reset();
        if (c.outcome == StoredOutcome::Failed) {
            const std::string& reason = verdict.reason;
            std::lock_guard lock(failures_mutex_);
            if (failures_[reason]++ == 0) {  // the first of each reason now, the count at the end
                LogLine line;
                line.add("user", options_.user).add("folder", display_name(folder)).add("uid", static_cast<std::uint64_t>(c.fetched.state.uid));
                line.add("reason", reason);
                log_error(line.str());
            }
        }
    }

    // Parsed as the core inspects a message for existing encryption; never throws.
    static bool is_protected(const Spool& message) {
        try {
            auto reader = message.reader();
            std::string head = read_prefix(*reader, kMaxHeaderBlockBytes + kMaxInspectedBodyBytes + 8);
            const ParsedHeader parsed = parse_header_block(head);
            const std::string_view body = std::string_view(head).substr(std::min(parsed.body_offset, head.size()));
            return detect_protection(parsed.fields, body.substr(0, kMaxInspectedBodyBytes), body.size() <= kMaxInspectedBodyBytes)
                .is_protected();
        } catch (const std::exception&) {
            return false;
        }
    }

    // Several messages at once on every step, so Dovecot commits (and syncs) once per batch rather
    // than per message: journal, mark, expunge, one MULTIAPPEND.
    std::vector<StoredOutcome> commit_batch(ImapSession& session, Journal& journal, const std::string& folder,
                                            const SelectedFolder& selected, Batch& batch) {
        std::vector<Candidate>& candidates = batch.candidates;
        const std::uint64_t modseq = batch.modseq;
        std::vector<StoredOutcome> outcomes;
        std::vector<JournalEntry> entries;
        std::vector<ByteSource*> copies;
        std::vector<std::unique_ptr<ByteSource>> readers;
        for (Candidate& c : candidates) {
            if (c.outcome != StoredOutcome::Encrypted || options_.dry_run) {
                outcomes.push_back(c.outcome);
                continue;
            }
            entries.push_back({c.token, folder, selected.uid_validity, c.fetched.state.uid, c.fetched.state.internal_date,
                               c.fetched.state.flags, {}, 0, 0});
            readers.push_back(c.encrypted->reader());
            copies.push_back(readers.back().get());
        }
        if (entries.empty()) return outcomes;
        journal.begin(entries, copies);
        readers.clear();

        // \Deleted only where nobody changed the flags since the fetch (every later change has a
        // higher modseq than any the fetch returned); a changed message gets its new flags carried over.
        std::vector<std::uint32_t> marked;
        for (const auto& e : entries) marked.push_back(e.uid);
        std::vector<std::uint32_t> modified = session.mark_deleted_unchanged_since(marked, modseq);
        std::vector<std::string> dropped;
        for (const std::uint32_t uid : modified) {
            JournalEntry& entry = *std::find_if(entries.begin(), entries.end(), [&](const JournalEntry& e) { return e.uid == uid; });
            bool done = false;
            for (int attempt = 0; attempt < 20 && !done; ++attempt) {
                const std::optional<MessageState> now = session.fetch_state(uid);
                if (!now) break;
                journal.update_flags(entry.token, now->flags);
                entry.flags = now->flags;
                done = session.mark_deleted_unchanged_since({uid}, now->modseq).empty();
            }
            if (!done) dropped.push_back(entry.token);  // gone, or its flags never held still: left as it is
        }
        // A message a client expunged before the mark was deleted by its user: no copy for it.
        const std::vector<std::uint32_t> present = session.existing(marked);
        for (const auto& e : entries)
            if (!std::binary_search(present.begin(), present.end(), e.uid) &&
                std::find(dropped.begin(), dropped.end(), e.token) == dropped.end())
                dropped.push_back(e.token);
        std::vector<std::uint32_t> to_expunge;
        std::vector<JournalEntry> replacing;
        for (const auto& e : entries) {
            if (std::find(dropped.begin(), dropped.end(), e.token) != dropped.end()) continue;
            to_expunge.push_back(e.uid);
            replacing.push_back(e);
        }
        for (const auto& token : dropped) {
            const auto& e = *std::find_if(entries.begin(), entries.end(), [&](const JournalEntry& x) { return x.token == token; });
            if (std::binary_search(present.begin(), present.end(), e.uid)) outcomes.push_back(StoredOutcome::Failed);
        }
        journal.end(dropped);
        if (replacing.empty()) return outcomes;

        session.expunge(to_expunge);
        touched_.insert(folder);
        if (!session.existing(to_expunge).empty())
            throw ImapProtocolError("IMAP UID EXPUNGE in '" + folder + "' left messages in place");
        std::vector<std::unique_ptr<ByteSource>> sources;
        std::vector<ImapSession::Append> appends;
        std::vector<std::string> tokens;
        for (const auto& e : replacing) {
            sources.push_back(journal.copy_of(e));
            appends.push_back({e.flags, e.internal_date, sources.back().get(), e.length});
            tokens.push_back(e.token);
        }
        try {
            session.append(folder, appends, selected.uid_validity);
        } catch (const ImapCommandError& e) {
            // Over quota, say: the originals are expunged, so the copies stay in the journal, and
            // every run tries to store them first until it works.
            throw std::runtime_error(std::string(e.what()) + "; " + std::to_string(appends.size()) +
                                     " encrypted message(s) wait in " + services_.config.mailbox.state_directory.string() +
                                     " and are stored by the next run");
        }
        journal.end(tokens);
        outcomes.insert(outcomes.end(), replacing.size(), StoredOutcome::Encrypted);
        return outcomes;
    }

    // Dovecot keeps header fields and snippets of messages in dovecot.index.cache, and mdbox keeps
    // expunged messages in its m.* files until purged: both would still hold the plaintext.
    void purge_caches() {
        const MailboxSettings& settings = services_.config.mailbox;
        std::vector<std::string> folders;
        for (const auto& folder : touched_) folders.push_back(display_name(folder));
        std::vector<std::vector<std::string>> commands;
        std::vector<std::string> cache{"mailbox", "cache", "purge", "-u", options_.user};
        cache.insert(cache.end(), folders.begin(), folders.end());
        commands.push_back(cache);
        commands.push_back({"purge", "-u", options_.user});
        // A full-text index keeps the words of expunged messages until it is rescanned; the
        // touched folders are indexed again at once (from ciphertext), the others when searched.
        if (fts_configured()) {
            commands.push_back({"fts", "rescan", "-u", options_.user});
            for (const auto& folder : folders) commands.push_back({"index", "-u", options_.user, folder});
        }
        for (const auto& command : commands) {
            const DoveadmResult r = run_doveadm(settings, command);
            if (r.exit_code != 0) {
                std::string text;
                for (const auto& a : doveadm_argv(settings, command)) text += (text.empty() ? "" : " ") + a;
                fail("'" + text + "' failed (exit " + std::to_string(r.exit_code) + "): " + std::string(trim_right(r.errors)) +
                     "; plaintext of replaced messages may remain in Dovecot's files until it succeeds");
            }
        }
    }

    bool fts_configured() {
        const DoveadmResult r = run_doveadm(services_.config.mailbox, {"config", "-h", "mail_plugins"});
        for (std::string_view plugins = r.output; !plugins.empty();) {
            const auto end = plugins.find_first_of(" \t\n");
            if (plugins.substr(0, end) == "fts") return true;
            if (end == std::string_view::npos) break;
            plugins.remove_prefix(end + 1);
        }
        return false;
    }

    const MailboxServices& services_;
    const UserMailboxOptions& options_;
    std::ostream& progress_out_;
    std::ostream& report_out_;
    static constexpr std::size_t kBatchMessages = 50;
    SpoolSettings spool_;
    unsigned workers_ = mailbox_encryption_threads();
    UserMailboxResult result_;
    std::set<std::string> touched_;
    std::mutex failures_mutex_;
    std::map<std::string, std::uint64_t> failures_;  // reason -> messages
    std::atomic<std::uint64_t> batch_fallbacks_{0};  // messages a batch run failed
};

}  // namespace

std::string address_for_user(const std::string& user, const MailboxSettings& settings) {
    if (user.find('@') != std::string::npos) return user;
    if (settings.address_domain.empty()) return {};
    return user + "@" + settings.address_domain;
}

SpoolSettings mailbox_spool(const Config& config, const std::filesystem::path& private_dir) {
    return {private_dir, std::min<std::size_t>(config.milter.body_memory_limit, 256 * 1024)};
}

unsigned mailbox_encryption_threads() { return 2 * std::max(1u, std::thread::hardware_concurrency()); }

UserMailboxResult encrypt_user_mailbox(const MailboxServices& services, const UserMailboxOptions& options,
                                       std::ostream& progress_out, std::ostream& report_out) {
    return UserRun(services, options, progress_out, report_out).run();
}

}  // namespace mdcrypt
