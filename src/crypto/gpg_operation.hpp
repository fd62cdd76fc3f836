// Runs one GPGME operation to its end in a poll loop of our own (GPGME's user I/O callbacks), so that
// it always ends: when gpg is done, when gpg closes or breaks a pipe, at its deadline, or when the
// process stops. GPGME's own loop waits without limit, and takes a pipe's POLLERR for "not ready".
//
// gpg runs as a grandchild (GPGME forks twice) whose pid GPGME does not tell; at the deadline the gpg
// is found by the pipes it shares with this operation (pipe_holders.hpp) and killed, then the
// operation is cancelled. Its exit is reaped by whoever inherited it (init or a subreaper).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/metrics.hpp"
#include "crypto/gpgme_handles.hpp"

namespace mdcrypt {

class GpgOperation {
public:
    enum class End { Running, Done, TimedOut, Stopped };

    // Takes over `ctx`'s I/O; start the operation (gpgme_op_*_start) after this, then call run().
    GpgOperation(gpgme_ctx_t ctx, std::chrono::milliseconds timeout);
    ~GpgOperation();  // a started operation not run to its end is ended as at its deadline
    GpgOperation(const GpgOperation&) = delete;
    GpgOperation& operator=(const GpgOperation&) = delete;

    // Runs the started operation until it ends; returns its GPGME error (0 for success). On a
    // deadline or a stop, gpg is killed and the error is GPG_ERR_TIMEOUT or GPG_ERR_CANCELED.
    gpgme_error_t run();

    End end() const { return end_; }
    // Counts a run that did not succeed (end() or `err`) as a gpg failure of `run` in the metrics.
    void count_failure(GpgRun run, gpgme_error_t err) const;
    // "gpg did not finish within 120 s ..." for TimedOut and Stopped; empty otherwise.
    std::string why_ended() const;
    // The keys a key listing produced, in order (GPGME hands them over as events).
    std::vector<GpgmeKey> take_keys() { return std::move(keys_); }

    struct Watch;  // one file descriptor GPGME asked us to watch

private:
    static gpgme_error_t add_watch(void* self, int fd, int dir, gpgme_io_cb_t fnc, void* fnc_data, void** tag) noexcept;
    static void remove_watch(void* tag) noexcept;
    static void on_event(void* self, gpgme_event_io_t type, void* type_data) noexcept;
    void end_early(End why);

    gpgme_ctx_t ctx_;
    std::chrono::milliseconds timeout_;
    std::chrono::steady_clock::time_point deadline_;
    std::vector<std::unique_ptr<Watch>> watches_;
    std::vector<GpgmeKey> keys_;
    bool started_ = false;
    bool done_ = false;
    gpgme_error_t result_ = 0;
    End end_ = End::Running;
};

// From now on every running and every later operation ends at once as End::Stopped (gpg killed).
// For a process that stops: its threads' gpg children must not outlive it. Async-signal-safe.
void stop_gpg_operations() noexcept;

}  // namespace mdcrypt
