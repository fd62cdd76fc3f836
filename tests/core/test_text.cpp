// The shared ASCII helpers: case folding only for ASCII letters (never the locale's), and mail's
// white space.
#include "core/text.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;

TEST_CASE("iequals and to_lower_ascii fold ASCII letters only") {
    CHECK(iequals("Content-Type", "content-TYPE"));
    CHECK_FALSE(iequals("Content-Type", "Content-Typ"));
    CHECK_FALSE(iequals("\xc3\x84", "\xc3\xa4"));  // non-ASCII bytes compare as they are
    CHECK(to_lower_ascii("MiXeD 123 \xc3\x84") == "mixed 123 \xc3\x84");
}

TEST_CASE("trim_right drops SP, HTAB and CR at the end only, is_blank knows mail's white space") {
    CHECK(trim_right("  line \t\r") == "  line");
    CHECK(trim_right("line\n") == "line\n");  // a line cut at LF has no LF left to trim
    CHECK(trim_right("") == "");
    CHECK(is_blank(" \t\r\n"));
    CHECK(is_blank(""));
    CHECK_FALSE(is_blank(" x "));
    CHECK_FALSE(is_blank("\v"));
}
