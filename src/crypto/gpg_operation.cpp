#include "crypto/gpg_operation.hpp"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "crypto/pipe_holders.hpp"

namespace mdcrypt {

namespace {

std::atomic<bool> stopping{false};

// How often a quiet operation looks at the stop flag.
constexpr std::chrono::milliseconds kStopCheck{200};

}  // namespace

struct GpgOperation::Watch {
    GpgOperation* owner;
    int fd;
    bool read;  // GPGME's dir 1: it reads from the fd (gpg's output); 0: it writes (gpg's input)
    gpgme_io_cb_t fnc;
    void* fnc_data;
    bool active = true;
};

void stop_gpg_operations() noexcept { stopping.store(true); }

GpgOperation::GpgOperation(gpgme_ctx_t ctx, std::chrono::milliseconds timeout)
    : ctx_(ctx), timeout_(timeout), deadline_(std::chrono::steady_clock::now() + timeout) {
    gpgme_io_cbs callbacks{add_watch, this, remove_watch, on_event, this};
    gpgme_set_io_cbs(ctx_, &callbacks);  // GPGME keeps a copy
}

GpgOperation::~GpgOperation() {
    if (started_ && !done_) end_early(End::TimedOut);
    gpgme_io_cbs none{nullptr, nullptr, nullptr, nullptr, nullptr};
    gpgme_set_io_cbs(ctx_, &none);
}

gpgme_error_t GpgOperation::add_watch(void* self, int fd, int dir, gpgme_io_cb_t fnc, void* fnc_data,
                                      void** tag) noexcept {
    auto* op = static_cast<GpgOperation*>(self);
    try {
        op->watches_.push_back(std::make_unique<Watch>(Watch{op, fd, dir != 0, fnc, fnc_data}));
    } catch (...) {
        return gpg_error(GPG_ERR_ENOMEM);
    }
    op->started_ = true;
    *tag = op->watches_.back().get();
    return 0;
}

void GpgOperation::remove_watch(void* tag) noexcept { static_cast<Watch*>(tag)->active = false; }

void GpgOperation::on_event(void* self, gpgme_event_io_t type, void* type_data) noexcept {
    auto* op = static_cast<GpgOperation*>(self);
    if (type == GPGME_EVENT_DONE) {
        const auto* done = static_cast<gpgme_io_event_done_data_t>(type_data);
        op->done_ = true;
        if (done && op->result_ == 0) op->result_ = done->err ? done->err : done->op_err;
    } else if (type == GPGME_EVENT_NEXT_KEY) {
        GpgmeKey key(static_cast<gpgme_key_t>(type_data));  // the event hands its reference over
        try {
            op->keys_.push_back(std::move(key));
        } catch (...) {
            if (op->result_ == 0) op->result_ = gpg_error(GPG_ERR_ENOMEM);
        }
    }
}

void GpgOperation::end_early(End why) {
    end_ = why;
    // Kill first, while our ends of the pipes are open: cancelling closes them, and gpg would be
    // left to notice (a stuck one never does). Only pipes still open: a closed one's inode number
    // could belong to another operation's pipe by now.
    std::vector<ino_t> pipes;
    for (const auto& w : watches_)
        if (w->active)
            if (const auto inode = pipe_inode(w->fd)) pipes.push_back(*inode);
    kill_pipe_holders(pipes);
    (void)gpgme_cancel(ctx_);
    done_ = true;
    result_ = gpg_error(why == End::TimedOut ? GPG_ERR_TIMEOUT : GPG_ERR_CANCELED);
}

gpgme_error_t GpgOperation::run() {
    std::vector<pollfd> fds;
    std::vector<Watch*> polled;
    while (!done_) {
        if (stopping.load()) {
            end_early(End::Stopped);
            break;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline_) {
            end_early(End::TimedOut);
            break;
        }
        std::erase_if(watches_, [](const auto& w) { return !w->active; });
        if (watches_.empty()) {
            // Every descriptor closed without GPGME saying it is done: nothing can finish it now.
            done_ = true;
            if (result_ == 0) result_ = gpg_error(GPG_ERR_GENERAL);
            break;
        }
        fds.clear();
        polled.clear();
        for (const auto& w : watches_) {
            fds.push_back(pollfd{w->fd, static_cast<short>(w->read ? POLLIN : POLLOUT), 0});
            polled.push_back(w.get());
        }
        const auto wait = std::min<std::chrono::milliseconds>(
            kStopCheck, std::chrono::ceil<std::chrono::milliseconds>(deadline_ - now));
        const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
        if (ready < 0 && errno != EINTR) {
            end_early(End::TimedOut);
            result_ = gpgme_error_from_errno(errno);
            break;
        }
        for (std::size_t i = 0; ready > 0 && i < fds.size() && !done_; ++i) {
            // POLLERR, POLLHUP and POLLNVAL go to the handler too: its read or write then fails, and
            // GPGME ends the operation with that error instead of waiting for readiness forever.
            if (fds[i].revents == 0 || !polled[i]->active) continue;
            (void)polled[i]->fnc(polled[i]->fnc_data, polled[i]->fd);
        }
    }
    if (end_ == End::Running) end_ = End::Done;
    return result_;
}

void GpgOperation::count_failure(GpgRun run, gpgme_error_t err) const {
    if (end_ == End::TimedOut) metrics().gpg_failure(run, Metrics::GpgFailure::Timeout);
    else if (end_ == End::Stopped) metrics().gpg_failure(run, Metrics::GpgFailure::Stopped);
    else if (err) metrics().gpg_failure(run, Metrics::GpgFailure::Failed);
}

std::string GpgOperation::why_ended() const {
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout_).count();
    switch (end_) {
        case End::TimedOut:
            return "gpg did not finish within " + std::to_string(seconds) + " s ([gnupg] timeout_seconds); it was killed";
        case End::Stopped:
            return "the process is stopping; gpg was killed";
        default:
            return {};
    }
}

}  // namespace mdcrypt
