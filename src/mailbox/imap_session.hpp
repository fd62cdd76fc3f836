// The IMAP commands mdcrypt-mailbox uses, on a pre-authenticated session with Dovecot: list folders,
// read a message with its flags, date and modification sequence (CONDSTORE, RFC 7162), append with
// flags and date, and expunge one UID (UIDPLUS, RFC 4315). Each failure throws, naming the command
// and folder; the caller decides what a failure means for the message at hand.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/spool.hpp"
#include "mailbox/imap_connection.hpp"

namespace mdcrypt {

struct ImapFolder {
    std::string name;  // as the server spells it (modified UTF-7), used verbatim in commands
    bool selectable = true;
};

struct SelectedFolder {
    std::uint32_t uid_validity = 0;
    std::uint32_t exists = 0;
};

struct MessageState {
    std::uint32_t uid = 0;
    std::vector<std::string> flags;  // without \Recent, which a client cannot set
    std::string internal_date;       // as the server sent it: "17-Jul-1996 02:44:25 -0700"
    std::uint64_t modseq = 0;
};

struct FetchedMessage {
    MessageState state;
    Spool body;  // the whole message, as stored
};

// A command the server answered NO or BAD.
class ImapCommandError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class ImapSession {
public:
    explicit ImapSession(ImapConnection connection);

    // Reads the greeting, which must be PREAUTH, and enables CONDSTORE.
    void start();
    std::vector<ImapFolder> list_folders();
    std::uint32_t count_messages(const std::string& folder);  // STATUS MESSAGES
    SelectedFolder select(const std::string& folder);
    // The UIDs in the selected folder, ascending.
    std::vector<std::uint32_t> uids();
    // The messages of `uids` that still exist, in UID order, each with its state and whole body.
    std::vector<FetchedMessage> fetch_messages(const std::vector<std::uint32_t>& uids);
    // nullopt when the UID is gone (expunged).
    std::optional<MessageState> fetch_state(std::uint32_t uid);
    // Sets \Deleted on `uids` unless a message's flags changed after `modseq` (UNCHANGEDSINCE); the
    // UIDs the server reports MODIFIED (left as they were).
    std::vector<std::uint32_t> mark_deleted_unchanged_since(const std::vector<std::uint32_t>& uids, std::uint64_t modseq);
    // UID EXPUNGE of `uids` (only those with \Deleted go).
    void expunge(const std::vector<std::uint32_t>& uids);
    // Which of `uids` still exist.
    std::vector<std::uint32_t> existing(const std::vector<std::uint32_t>& uids);
    // Takes \Deleted off one message, leaving its other flags as they are.
    void clear_deleted(std::uint32_t uid);

    struct Append {
        std::vector<std::string> flags;
        std::string internal_date;
        ByteSource* message;
        std::uint64_t size;
    };
    // One APPEND (MULTIAPPEND, RFC 3502, for several): all stored or none. The new UIDs (APPENDUID),
    // checked against `uid_validity`.
    std::vector<std::uint32_t> append(const std::string& folder, const std::vector<Append>& messages,
                                      std::uint32_t uid_validity);
    // UIDs of messages whose `field` contains `text` (SEARCH HEADER).
    std::vector<std::uint32_t> search_header(const std::string& field, const std::string& text);
    void logout();

private:
    ImapStatus run(const std::string& command, const ImapConnection::UntaggedHandler& on_untagged = {});

    ImapConnection connection_;
    std::string selected_;
};

// "(\Seen \Flagged $Label1)": flags for APPEND and STORE.
std::string imap_flag_list(const std::vector<std::string>& flags);

}  // namespace mdcrypt
