// One mail transaction as the milter sees it: envelope, header fields in the core's raw form, and the
// body in a Spool. Created at MAIL FROM, dropped on abort and at end of message.
//
// Limits, enforced here as the bytes arrive:
//   max_message_size  (config; 0 = none) header plus body bytes. Beyond it the body is no longer kept
//                     and the message is "too large": end of message then passes it untouched if no
//                     recipient needs encryption or it is already encrypted, and tempfails it
//                     otherwise (end_of_message.hpp). Only the body's first kMaxInspectedBodyBytes + 1
//                     bytes stay in memory for that check.
//   kMaxHeaderBlockBytes (core/header.hpp) header bytes; beyond it the message is "too large" too,
//                     since a header we cannot hold is a header we cannot rewrite.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/decision.hpp"
#include "core/header.hpp"
#include "core/protection_detect.hpp"
#include "core/spool.hpp"

namespace mdcrypt::milter {

class MessageState {
public:
    MessageState(SpoolSettings spool, std::uint64_t max_message_size);

    void set_sender(std::string_view envelope_sender) { sender_ = envelope_sender; }
    // `local_by_mailer`: the MTA's mailer made it local (milter.local_mailers); end of message
    // classifies it again with the same answer.
    void add_recipient(std::string_view envelope_recipient, bool local_by_mailer = false) {
        recipients_.emplace_back(envelope_recipient);
        local_by_mailer_.push_back(local_by_mailer);
    }
    bool local_by_mailer(std::size_t index) const { return local_by_mailer_.at(index); }
    // A recipient accepted at RCPT time, with the decision that admitted it (recipient_step.hpp).
    void admit(std::string_view envelope_recipient, RecipientDecision decision, bool local_by_mailer) {
        add_recipient(envelope_recipient, local_by_mailer);
        admitted_.push_back(std::move(decision));
    }
    const std::vector<RecipientDecision>& admitted() const { return admitted_; }
    // A recipient came without {rcpt_mailer}: this submission cannot defer recipients (non-SMTP).
    void note_not_deferrable() { deferrable_ = false; }
    bool deferrable() const { return deferrable_; }
    // `value` exactly as libmilter passed it; normalised to the core's raw form.
    void add_header(std::string_view name, std::string_view value, bool leading_space_negotiated);
    // A body chunk as received. Bare LF becomes CRLF (the MTA normally sends CRLF already), so the
    // core gets the canonical form whatever the chunk boundaries.
    void append_body(std::string_view chunk);

    // A callback that has no reply of its own (SMFIP_NR_*) failed: nothing more is collected, and end
    // of message tempfails with `reason` (logged, never shown to the client). The first reason wins.
    void fail(std::string_view reason);
    bool failed() const { return !failure_.empty(); }
    const std::string& failure() const { return failure_; }

    void set_queue_id(std::string_view id) { queue_id_ = id; }
    const std::string& queue_id() const { return queue_id_; }
    const std::string& sender() const { return sender_; }
    const std::vector<std::string>& recipients() const { return recipients_; }
    const std::vector<HeaderField>& fields() const { return fields_; }

    bool too_large() const { return too_large_; }
    // Which limit made it too large, for the log: the header block's (kMaxHeaderBlockBytes) or
    // max_message_size. Empty when not too large.
    std::string too_large_cause() const;
    std::uint64_t bytes_received() const { return header_bytes_ + body_bytes_; }
    std::uint64_t body_bytes_received() const { return body_bytes_; }
    bool body_on_disk() const { return body_.on_disk(); }

    // A too-large message with its whole header: the body's first bytes (CRLF, at most
    // kMaxInspectedBodyBytes + 1), to tell whether it is already encrypted. nullopt otherwise.
    std::optional<std::string_view> body_prefix() const;

    // Reads the kept body (CRLF). Only meaningful when !too_large(); the state must outlive it.
    std::unique_ptr<ByteSource> body() const { return body_.reader(); }

    std::chrono::steady_clock::time_point started() const { return started_; }

private:
    void check_limits();
    void keep(std::string_view crlf_bytes);
    std::size_t prefix_room() const;
    bool prefix_full() const { return !inspect_prefix_ || prefix_room() == 0; }

    SpoolSettings spool_settings_;
    std::uint64_t max_message_size_;
    std::string sender_;
    std::vector<std::string> recipients_;
    std::vector<bool> local_by_mailer_;  // parallel to recipients_
    std::vector<RecipientDecision> admitted_;
    bool deferrable_ = true;
    std::vector<HeaderField> fields_;
    Spool body_;
    std::string queue_id_;
    std::uint64_t header_bytes_ = 0;
    std::uint64_t body_bytes_ = 0;
    bool too_large_ = false;
    bool header_overflow_ = false;
    bool inspect_prefix_ = false;  // too large by size, header whole: body_prefix_ is being kept
    std::string body_prefix_;
    bool last_was_cr_ = false;
    std::string failure_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace mdcrypt::milter
