#include "mailbox/outcome.hpp"

namespace mdcrypt {

StoredOutcome outcome_of(const FilterReport& report) {
    switch (report.exit) {
        case FilterExit::Ok:
            if (report.result.decision.action == MessageDecision::Action::Encrypt) return StoredOutcome::Encrypted;
            if (report.result.protection && report.result.protection->is_protected()) return StoredOutcome::AlreadyProtected;
            return StoredOutcome::LeftPlain;
        case FilterExit::NoPermission:
            return StoredOutcome::LeftPlain;
        case FilterExit::DataError:  // an empty message: nothing to encrypt
            return StoredOutcome::LeftPlain;
        case FilterExit::TempFail:
        case FilterExit::Config:
            return StoredOutcome::Failed;
    }
    return StoredOutcome::Failed;
}

Recovery recovery_for(bool original_exists, bool copy_stored) {
    if (original_exists) return Recovery::RestoreOriginal;
    return copy_stored ? Recovery::KeepCopy : Recovery::AppendCopy;
}

std::string token_boundary(const std::string& token, unsigned counter) {
    return "mdcrypt." + token + "." + std::to_string(counter) + "_";
}

void MailboxCounts::add(StoredOutcome outcome) {
    switch (outcome) {
        case StoredOutcome::Encrypted: ++encrypted; break;
        case StoredOutcome::AlreadyProtected: ++already_protected; break;
        case StoredOutcome::LeftPlain: ++left_plain; break;
        case StoredOutcome::Failed: ++failed; break;
    }
}

std::string summary_line(const std::string& user, const MailboxCounts& c, bool dry_run, bool finished) {
    return "mdcrypt-mailbox: " + user + ": " + (dry_run ? "would encrypt " : "encrypted ") + std::to_string(c.encrypted) +
           ", already protected " + std::to_string(c.already_protected) + ", left plain " + std::to_string(c.left_plain) +
           ", failed " + std::to_string(c.failed) + (finished ? "" : "; not finished");
}

}  // namespace mdcrypt
