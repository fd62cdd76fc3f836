#include "milter/connection_state.hpp"

namespace mdcrypt::milter {

MessageState& ConnectionState::begin_message() {
    message_.reset();  // free the old spool before the new one allocates
    const auto& settings = config().milter;
    message_ = std::make_unique<MessageState>(SpoolSettings{settings.spool_directory, settings.body_memory_limit},
                                              settings.max_message_size);
    ++messages_started_;
    return *message_;
}

MessageState& ConnectionState::message() {
    if (!message_) throw NoMessage();
    return *message_;
}

std::unique_ptr<MessageState> ConnectionState::take_message() {
    if (!message_) throw NoMessage();
    return std::move(message_);
}

}  // namespace mdcrypt::milter
