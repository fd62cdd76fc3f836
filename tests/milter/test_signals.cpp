#include <catch2/catch.hpp>

#include <signal.h>

#include "milter/signals.hpp"

// libmilter's signal thread calls sigwait() for SIGHUP, SIGTERM and SIGINT and stops the milter on any
// of them. The daemon's sigwait() (signals.cpp) must never hand it a SIGHUP: that is a reload, for the
// main thread.

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
    bool pending(int signo) const {
        sigset_t pending;
        sigpending(&pending);
        return sigismember(&pending, signo) == 1;
    }

private:
    sigset_t set_;
    sigset_t saved_;
};

}  // namespace

TEST_CASE("the sigwait libmilter calls takes SIGTERM and SIGINT but leaves SIGHUP pending") {
    Blocked blocked({SIGHUP, SIGTERM, SIGINT});
    sigset_t libmilters_set;  // what libmilter's signal thread waits for
    sigemptyset(&libmilters_set);
    for (int s : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&libmilters_set, s);

    REQUIRE(pthread_kill(pthread_self(), SIGHUP) == 0);
    REQUIRE(pthread_kill(pthread_self(), SIGTERM) == 0);
    int taken = 0;
    CHECK(sigwait(&libmilters_set, &taken) == 0);
    CHECK(taken == SIGTERM);
    CHECK(blocked.pending(SIGHUP));  // still there for the main thread

    REQUIRE(pthread_kill(pthread_self(), SIGINT) == 0);
    CHECK(sigwait(&libmilters_set, &taken) == 0);
    CHECK(taken == SIGINT);
    CHECK(blocked.pending(SIGHUP));
}
