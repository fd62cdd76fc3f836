#include <catch2/catch.hpp>

#include <pthread.h>
#include <signal.h>

#include <initializer_list>

#include "milter/signals.hpp"

// libmilter's signal thread calls sigwait() for SIGHUP, SIGTERM and SIGINT and stops the milter on any
// of them. The daemon's sigwait() must never hand it a SIGHUP: that is a reload, for the main thread.

namespace {

// Blocks `signals` in this thread for the scope, and takes whatever of them is still pending at its end.
class Blocked {
public:
    explicit Blocked(std::initializer_list<int> signals) {
        sigemptyset(&set_);
        for (int s : signals) sigaddset(&set_, s);
        pthread_sigmask(SIG_BLOCK, &set_, &saved_);
    }
    ~Blocked() {
        const timespec now{0, 0};
        while (sigtimedwait(&set_, nullptr, &now) > 0) {
        }
        pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
    }
    Blocked(const Blocked&) = delete;
    Blocked& operator=(const Blocked&) = delete;
    bool pending(int signo) const {
        sigset_t pending;
        sigpending(&pending);
        return sigismember(&pending, signo) == 1;
    }

private:
    sigset_t set_;
    sigset_t saved_;
};

sigset_t libmilters_set() {  // what libmilter's signal thread waits for
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, s);
    return set;
}

}  // namespace

TEST_CASE("libmilter's wait takes SIGTERM and SIGINT but leaves SIGHUP pending") {
    using mdcrypt::milter::sigwait_without_reload;
    Blocked blocked({SIGHUP, SIGTERM, SIGINT});
    const sigset_t set = libmilters_set();

    REQUIRE(pthread_kill(pthread_self(), SIGHUP) == 0);
    REQUIRE(pthread_kill(pthread_self(), SIGTERM) == 0);
    int taken = 0;
    CHECK(sigwait_without_reload(&set, &taken) == 0);
    CHECK(taken == SIGTERM);  // libc's sigwait returns the lowest pending signal: SIGHUP
    CHECK(blocked.pending(SIGHUP));

    REQUIRE(pthread_kill(pthread_self(), SIGINT) == 0);
    CHECK(sigwait_without_reload(&set, &taken) == 0);
    CHECK(taken == SIGINT);
    CHECK(blocked.pending(SIGHUP));
}

TEST_CASE("sigwait as the dynamic linker resolves it (libmilter's call) is the daemon's") {
    // This program links the same library and libmilter as the daemon.
    CHECK(mdcrypt::milter::reload_kept_from_libmilter());
    Blocked blocked({SIGHUP, SIGTERM, SIGINT});
    const sigset_t set = libmilters_set();
    REQUIRE(pthread_kill(pthread_self(), SIGHUP) == 0);
    REQUIRE(pthread_kill(pthread_self(), SIGINT) == 0);
    int taken = 0;
    CHECK(sigwait(&set, &taken) == 0);
    CHECK(taken == SIGINT);
    CHECK(blocked.pending(SIGHUP));
}
