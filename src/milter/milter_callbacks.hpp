// The libmilter callbacks: a thin adapter from C callbacks to ConnectionState, MessageState,
// finish_message() and EditApplier. Every callback runs inside one guard that turns any exception
// into SMFIS_TEMPFAIL with a logged reason.
#pragma once

#include <cstddef>

namespace mdcrypt::milter {

class Runtime;

// smfi_register() with our callbacks. Returns MI_SUCCESS/MI_FAILURE.
int register_filter();

// The runtime the callbacks use; set before smfi_main() and alive until the process exits.
void set_runtime(Runtime* runtime);

// Ends of message being processed right now (a graceful stop waits for them).
std::size_t messages_in_progress();

// MTA connections open now (each holds a slot of max_connections).
std::size_t connections_open();

}  // namespace mdcrypt::milter
