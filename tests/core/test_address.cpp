#include "core/address.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;

TEST_CASE("envelope addresses are split and the domain lower-cased", "[address]") {
    auto a = parse_address("<Alice.Smith@Example.ORG>");
    REQUIRE(a);
    CHECK(a->local == "Alice.Smith");
    CHECK(a->domain == "example.org");
    CHECK(a->full() == "Alice.Smith@example.org");

    auto quoted = parse_address(" <\"odd@local\"@example.org> ");
    REQUIRE(quoted);
    CHECK(quoted->local == "\"odd@local\"");
    CHECK(quoted->domain == "example.org");

    CHECK_FALSE(parse_address("<>"));
    CHECK_FALSE(parse_address("postmaster"));
    CHECK_FALSE(parse_address("<@example.org>"));
    CHECK_FALSE(parse_address("<alice@>"));
    CHECK_FALSE(parse_address(std::string("alice\n@example.org")));
}
