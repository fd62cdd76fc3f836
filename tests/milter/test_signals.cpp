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

// With SIGHUP, SIGTERM and SIGINT blocked and SIGHUP pending: `wait` takes SIGTERM, then SIGINT, and
// leaves SIGHUP pending each time (libc's sigwait returns the lowest pending signal: SIGHUP).
void check_takes_all_but_sighup(int (*wait)(const sigset_t*, int*)) {
    Blocked blocked({SIGHUP, SIGTERM, SIGINT});
    const sigset_t set = libmilters_set();
    REQUIRE(pthread_kill(pthread_self(), SIGHUP) == 0);
    for (const int signo : {SIGTERM, SIGINT}) {
        REQUIRE(pthread_kill(pthread_self(), signo) == 0);
        int taken = 0;
        CHECK(wait(&set, &taken) == 0);
        CHECK(taken == signo);
        CHECK(blocked.pending(SIGHUP));
    }
}

}  // namespace

TEST_CASE("libmilter's wait takes SIGTERM and SIGINT but leaves SIGHUP pending") {
    check_takes_all_but_sighup(mdcrypt::milter::sigwait_without_reload);
}

TEST_CASE("sigwait as the dynamic linker resolves it (libmilter's call) is the daemon's") {
    // This program links the same library and libmilter as the daemon.
    CHECK(mdcrypt::milter::reload_kept_from_libmilter());
    check_takes_all_but_sighup(sigwait);  // the symbol libmilter's call reaches
}
