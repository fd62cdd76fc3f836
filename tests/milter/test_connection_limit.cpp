#include <catch2/catch.hpp>

#include <vector>

#include "milter/connection_limit.hpp"

using namespace mdcrypt::milter;
using Clock = std::chrono::steady_clock;

TEST_CASE("up to the limit connections get a slot, a freed slot is used again") {
    ConnectionLimit limit;
    std::vector<ConnectionLimit::Slot> held;
    for (int i = 0; i < 3; ++i) {
        auto slot = limit.try_acquire(3);
        REQUIRE(slot);
        held.push_back(std::move(*slot));
    }
    CHECK(limit.held() == 3);
    CHECK_FALSE(limit.try_acquire(3));
    held.pop_back();
    CHECK(limit.held() == 2);
    CHECK(limit.try_acquire(3));  // taken and given back at once
    CHECK(limit.held() == 2);
    CHECK(limit.try_acquire(4));  // a reload that raises the limit counts what is held already
    held.clear();
    CHECK(limit.held() == 0);
}

TEST_CASE("refusals are reported at most once per period, with how many there were") {
    ConnectionLimit limit;
    const auto t0 = Clock::time_point{} + std::chrono::hours(1);
    const auto period = std::chrono::seconds(60);
    CHECK_FALSE(limit.refusals_to_report(t0, period));  // nothing refused: nothing to say
    auto slot = limit.try_acquire(1);
    REQUIRE(slot);
    CHECK_FALSE(limit.try_acquire(1));
    CHECK(limit.refusals_to_report(t0, period) == 1u);  // the first refusal is reported at once
    CHECK_FALSE(limit.try_acquire(1));
    CHECK_FALSE(limit.try_acquire(1));
    CHECK_FALSE(limit.refusals_to_report(t0 + std::chrono::seconds(59), period));
    CHECK(limit.refusals_to_report(t0 + std::chrono::seconds(60), period) == 2u);
    CHECK_FALSE(limit.refusals_to_report(t0 + std::chrono::seconds(500), period));  // none since
}
