// Pure decisions of mdcrypt-mailbox: what the core's verdict on a stored message means for it, and
// how to finish a replacement an earlier run left in flight.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/pipe_filter.hpp"

namespace mdcrypt {

enum class StoredOutcome {
    Encrypted,         // replaced by its encrypted form
    AlreadyProtected,  // PGP/MIME, S/MIME or inline OpenPGP: left alone
    LeftPlain,         // policy off, not local, or no usable key: left alone
    Failed,            // a key source, engine or spool error: left alone, counted, run again later
};

// From the pipe filter's report for the mailbox's own address. A "required" address without a usable
// key is LeftPlain: stored mail cannot be refused, and retrying will not help until a key exists.
StoredOutcome outcome_of(const FilterReport& report);

enum class Recovery {
    RestoreOriginal,  // the original is still there: take back the \Deleted this tool set, if any
    KeepCopy,         // the original is gone and the encrypted copy is stored
    AppendCopy,       // the original is gone and the copy is not stored: store it from the journal
};

// The copy is appended only after the original is expunged, so "original still there" means the
// copy was never stored.
Recovery recovery_for(bool original_exists, bool copy_stored);

// The boundaries of a replacement's MIME parts: each contains the journal token, so the stored copy
// is found by searching its Content-Type; a counter keeps nested boundaries distinct (and none a
// prefix of another).
std::string token_boundary(const std::string& token, unsigned counter);

struct MailboxCounts {
    std::uint64_t encrypted = 0;
    std::uint64_t already_protected = 0;
    std::uint64_t left_plain = 0;
    std::uint64_t failed = 0;
    void add(StoredOutcome outcome);
};

// "mdcrypt-mailbox: USER: encrypted N, already protected N, left plain N, failed N" ("would encrypt"
// for a dry run), and "; not finished" when an error stopped the run before every folder was read
// (the counts then cover only what was read).
std::string summary_line(const std::string& user, const MailboxCounts& counts, bool dry_run, bool finished = true);

}  // namespace mdcrypt
