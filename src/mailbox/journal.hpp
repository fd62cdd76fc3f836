// What mdcrypt-mailbox has in flight for one user, on disk, so a run killed at any moment is finished
// by the next: for each replacement, the encrypted message (in a batch file, written and synced first)
// and a "begin" line with where the original was and the flags and date the copy must get; an "end"
// line when the copy is stored. One directory per user under [mailbox] state_directory, locked while a run works.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/file_descriptor.hpp"

namespace mdcrypt {

struct JournalEntry {
    std::string token;  // random hex; also in the copy's MIME boundary, so the copy can be found
    std::string folder;
    std::uint32_t uid_validity = 0;
    std::uint32_t uid = 0;  // the original's
    std::string internal_date;
    std::vector<std::string> flags;
    std::string batch;  // the file (token) holding the encrypted copy, at offset, length bytes
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
    bool operator==(const JournalEntry&) const = default;
};

// The entries begun and not ended, in order. Unknown or torn lines (a write cut by a crash, which
// was never synced and so never acted on) are skipped.
std::vector<JournalEntry> parse_journal(std::string_view text);
std::string journal_begin_line(const JournalEntry& entry);
std::string journal_flags_line(std::string_view token, const std::vector<std::string>& flags);
std::string journal_end_lines(const std::vector<std::string>& tokens);

// A user's directory name: the user name with bytes outside [A-Za-z0-9@._-] as %XX.
std::string journal_directory_name(std::string_view user);

// Another run holds the user's lock.
class JournalBusy : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class Journal {
public:
    // Creates `directory` (0700) if needed and locks it; throws JournalBusy when another run has it.
    explicit Journal(std::filesystem::path directory);

    const std::vector<JournalEntry>& pending() const { return pending_; }

    // Writes the encrypted copies into one batch file and syncs it, then records the entries (their
    // batch, offset and length filled in here) and syncs the journal. `copies[i]` is entries[i]'s.
    void begin(std::vector<JournalEntry>& entries, const std::vector<ByteSource*>& copies);
    // The encrypted copy of a pending entry.
    std::unique_ptr<ByteSource> copy_of(const JournalEntry& entry) const;
    void update_flags(std::string_view token, const std::vector<std::string>& flags);
    // Records the entries as done; a batch file no pending entry needs is removed.
    void end(const std::vector<std::string>& tokens);
    // With nothing pending, empties the journal and removes stray batch files.
    void compact();

private:
    std::filesystem::path message_file(std::string_view batch) const;
    void append_line(const std::string& line, bool sync);

    std::filesystem::path directory_;
    FileDescriptor lock_;
    FileDescriptor journal_;
    std::vector<JournalEntry> pending_;
};

// A new random token (32 hex digits).
std::string new_journal_token();

}  // namespace mdcrypt
