// Per-connection state: the configuration snapshot pinned when the MTA connected (a reload never
// changes a connection half way), what was negotiated, and the message in progress. Owned by
// libmilter's private pointer from negotiation to close.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>

#include "milter/connection_limit.hpp"
#include "milter/message_state.hpp"
#include "milter/runtime.hpp"

namespace mdcrypt::milter {

// A callback needed a message and there is none (protocol out of order, or an earlier failure
// dropped it). The guard turns it into a tempfail.
class NoMessage : public std::logic_error {
public:
    NoMessage() : std::logic_error("no mail transaction in progress") {}
};

// What was negotiated with the MTA: the one copy of these flags. The callback layer fills it from
// the protocol bits, and keeps it per libmilter context too (it must survive SMFIC_QUIT_NC).
struct Negotiated {
    bool leading_space = false;    // SMFIP_HDR_LEADSPC: header values arrive with their leading space
    bool no_reply_mail = false;    // SMFIP_NR_MAIL: MAIL FROM is not answered (SMFIS_NOREPLY)
    bool no_reply_header = false;  // SMFIP_NR_HDR: header fields are not answered
    bool no_reply_eoh = false;     // SMFIP_NR_EOH: end of header is not answered
    bool no_reply_body = false;    // SMFIP_NR_BODY: body chunks are not answered
};

class ConnectionState {
public:
    explicit ConnectionState(std::shared_ptr<const Snapshot> snapshot) : snapshot_(std::move(snapshot)) {}

    const Snapshot& snapshot() const { return *snapshot_; }
    const Config& config() const { return *snapshot_->config; }

    Negotiated negotiated;
    // Its place under [milter] max_connections, taken at negotiation; none when over the limit (the
    // connection is then tempfailed at connect) and none for a state re-created after SMFIC_QUIT_NC,
    // which the MTA continues without a new negotiation (counted once, at its start).
    std::optional<ConnectionLimit::Slot> slot;
    bool over_limit = false;

    // MAIL FROM: a fresh message replaces whatever was left.
    MessageState& begin_message();
    MessageState& message();                       // throws NoMessage
    bool has_message() const { return static_cast<bool>(message_); }
    std::unique_ptr<MessageState> take_message();  // end of message: the caller owns it now; throws NoMessage
    void reset_message() { message_.reset(); }     // abort, or a failure mid-message

    unsigned long messages_started() const { return messages_started_; }

private:
    std::shared_ptr<const Snapshot> snapshot_;
    std::unique_ptr<MessageState> message_;
    unsigned long messages_started_ = 0;
};

}  // namespace mdcrypt::milter
