#include "milter/signals.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace mdcrypt::milter {

namespace {

std::atomic<int> g_signal_write_fd{-1};

extern "C" void on_signal(int signo) {
    const int saved_errno = errno;
    const char byte = signo == SIGHUP ? 'H' : 'T';
    const int fd = g_signal_write_fd.load();
    if (fd >= 0) {
        [[maybe_unused]] const ssize_t n = ::write(fd, &byte, 1);  // a full pipe already holds a wake-up
    }
    errno = saved_errno;
}

sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
}

}  // namespace

SignalPipe::SignalPipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    read_end_ = FileDescriptor(fds[0]);
    write_end_ = FileDescriptor(fds[1]);
    // The handler must never block: a full pipe means a wake-up is already pending.
    ::fcntl(write_end_.get(), F_SETFL, ::fcntl(write_end_.get(), F_GETFL) | O_NONBLOCK);
    g_signal_write_fd = write_end_.get();
    struct sigaction action{};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    for (int signo : {SIGHUP, SIGTERM, SIGINT})
        if (::sigaction(signo, &action, nullptr) != 0)
            throw std::runtime_error(std::string("sigaction: ") + std::strerror(errno));
}

SignalPipe::~SignalPipe() {
    struct sigaction action{};
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    for (int signo : {SIGHUP, SIGTERM, SIGINT}) ::sigaction(signo, &action, nullptr);
    g_signal_write_fd = -1;
}

SignalPipe::Event SignalPipe::wait() {
    for (;;) {
        // poll before read: ThreadSanitizer runs a handler only inside calls it knows to block (poll
        // is one, read is not), so a daemon sitting in read would never see SIGTERM under it.
        pollfd pfd{read_end_.get(), POLLIN, 0};
        if (::poll(&pfd, 1, -1) < 0 && errno != EINTR)
            throw std::runtime_error(std::string("waiting on the signal pipe: ") + std::strerror(errno));
        if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char byte = 0;
        const ssize_t n = ::read(read_end_.get(), &byte, 1);
        if (n == 1) {
            if (byte == 'H') return Event::Reload;
            if (byte == 'T') return Event::Stop;
            return Event::MilterFinished;
        }
        if (n < 0 && errno == EINTR) continue;
        throw std::runtime_error(std::string("reading the signal pipe: ") + (n == 0 ? "closed" : std::strerror(errno)));
    }
}

std::optional<SignalPipe::Event> SignalPipe::wait_for(std::chrono::milliseconds timeout) {
    pollfd pfd{read_end_.get(), POLLIN, 0};
    int rc;
    do {
        rc = ::poll(&pfd, 1, static_cast<int>(timeout.count()));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) return std::nullopt;
    return wait();
}

void SignalPipe::finished() {
    const char byte = 'F';
    while (::write(write_end_.get(), &byte, 1) != 1) {
        if (errno != EINTR && errno != EAGAIN) return;
        if (errno == EAGAIN) ::usleep(10'000);  // the pipe is full of signal bytes: wait for the reader
    }
}

BlockedSignals::BlockedSignals() {
    const sigset_t set = handled_signals();
    ::pthread_sigmask(SIG_BLOCK, &set, &saved_);
}

BlockedSignals::~BlockedSignals() {
    ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
}

int sigwait_without_reload(const sigset_t* set, int* signo) {
    sigset_t without_reload = *set;
    sigdelset(&without_reload, SIGHUP);
    int taken;
    do {
        taken = ::sigwaitinfo(&without_reload, nullptr);
    } while (taken < 0 && errno == EINTR);
    if (taken < 0) return errno;
    *signo = taken;
    return 0;
}

bool reload_kept_from_libmilter() {
    return ::dlsym(RTLD_DEFAULT, "sigwait") == reinterpret_cast<void*>(&::sigwait);
}

}  // namespace mdcrypt::milter

// libmilter reaches its signal thread's wait through this symbol: the executable's definition comes
// before libc's (and a sanitizer's). Nothing else in the daemon calls sigwait.
extern "C" int sigwait(const sigset_t* __restrict set, int* __restrict signo) {
    return mdcrypt::milter::sigwait_without_reload(set, signo);
}
