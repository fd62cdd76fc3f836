// Signal handling next to libmilter.
//
// smfi_main() blocks SIGHUP, SIGTERM and SIGINT in the thread that calls it and starts its own thread
// that sigwait()s for them, treating SIGHUP like SIGTERM (stop). A second sigwait() thread of ours
// would race with it for SIGHUP, and a reload signal would sometimes stop the milter. So instead:
// smfi_main() runs in its own thread (it and every libmilter thread inherit the blocked mask), and
// the main thread keeps the three signals unblocked with handlers that write one byte to a pipe.
// Linux offers a process-directed signal to the thread group leader first when that thread can take
// it (kernel/signal.c, complete_signal), but not while it runs the handler for the previous SIGHUP (the
// signal is blocked then) or has one pending and is off the CPU: a quick second SIGHUP went to
// libmilter's thread and stopped the milter. So the daemon also defines sigwait(), which libmilter's
// signal thread calls, as libc's without SIGHUP: that thread keeps SIGHUP blocked and never takes it,
// and a SIGHUP waits for the main thread. It still takes SIGTERM and SIGINT (stop either way).
#pragma once

#include <signal.h>

#include <chrono>
#include <optional>

#include "core/spool.hpp"

namespace mdcrypt::milter {

class SignalPipe {
public:
    enum class Event { Reload, Stop, MilterFinished };

    // Creates the pipe and installs handlers for SIGHUP, SIGTERM and SIGINT. One instance at a time.
    SignalPipe();
    ~SignalPipe();  // restores the default dispositions
    SignalPipe(const SignalPipe&) = delete;
    SignalPipe& operator=(const SignalPipe&) = delete;

    Event wait();              // blocks until a signal arrived or finished() was called
    // Like wait(), but gives up after `timeout`: nullopt.
    std::optional<Event> wait_for(std::chrono::milliseconds timeout);
    void finished();           // from the thread running smfi_main, when it returned

private:
    FileDescriptor read_end_;
    FileDescriptor write_end_;
};

// libc's sigwait() without SIGHUP: what libmilter's signal thread gets when it calls sigwait() (the
// daemon defines that symbol to call this). Returns 0 or an errno value, as sigwait() does.
int sigwait_without_reload(const sigset_t* set, int* signo);

// Whether sigwait() as the dynamic linker resolves it, for libmilter too, is the daemon's: false if a
// build or link change lost it (then a SIGHUP may again stop the milter; the daemon warns at start).
bool reload_kept_from_libmilter();

// Blocks SIGHUP/SIGTERM/SIGINT in the calling thread for its lifetime, so threads started meanwhile
// (the one that runs smfi_main) inherit the blocked mask.
class BlockedSignals {
public:
    BlockedSignals();
    ~BlockedSignals();
    BlockedSignals(const BlockedSignals&) = delete;
    BlockedSignals& operator=(const BlockedSignals&) = delete;

private:
    sigset_t saved_;
};

}  // namespace mdcrypt::milter
