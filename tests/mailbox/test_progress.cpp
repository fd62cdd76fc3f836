#include "mailbox/progress.hpp"

#include <catch2/catch.hpp>
#include <sstream>

using namespace mdcrypt;

TEST_CASE("progress says count, share, rate and time left") {
    CHECK(progress_text(0, 10000, 0.2) == "0/10000 messages (0%)");
    CHECK(progress_text(1200, 10000, 12.0) == "1200/10000 messages (12%), 100.0/s, ETA 1m28s");
    CHECK(progress_text(10000, 10000, 50.0) == "10000/10000 messages (100%), 200.0/s");
    CHECK(progress_text(100, 1000000, 1.0).ends_with("ETA 2h46m"));
}

TEST_CASE("the bar fills with the share done") {
    CHECK(progress_bar(0, 10, 10) == "[----------]");
    CHECK(progress_bar(5, 10, 10) == "[#####-----]");
    CHECK(progress_bar(12, 10, 10) == "[##########]");
    CHECK(progress_bar(0, 0, 4) == "[####]");
}

TEST_CASE("auto means a bar on a terminal and lines otherwise") {
    CHECK(parse_progress_style("auto", true) == ProgressStyle::Bar);
    CHECK(parse_progress_style("auto", false) == ProgressStyle::Lines);
    CHECK(parse_progress_style("none", true) == ProgressStyle::None);
    CHECK_FALSE(parse_progress_style("fancy", true));
}

TEST_CASE("lines mode writes whole lines, and the last state at the end") {
    std::ostringstream out;
    ProgressReporter progress(ProgressStyle::Lines, out, "alice");
    progress.set_total(3);
    progress.step();
    progress.step(2);
    progress.finish();
    CHECK(out.str() == "alice: 3/3 messages (100%)\n");
}
