// The administrator's record of what a keyring must hold: its file format and the comparison with a
// listing.
#include "core/expected_keys.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;

namespace {
const std::string kAlice = "6E6579CBABB47ADC8DFCD52713299A5479CB5829";
const std::string kBob = "0FE6F627C6EE938A7B7DF25EAEB53FB94C42A323";
}  // namespace

TEST_CASE("expected keys: fingerprints with their addresses, comments and blank lines skipped") {
    const auto parsed = parse_expected_keys("# a comment\n\n" + kAlice + " Alice@Example.TEST alice2@example.test\n" +
                                                "0fe6f627c6ee938a7b7df25eaeb53fb94c42a323   # bob, no address\n",
                                            "/home/x/mdcrypt-expected-keys");
    REQUIRE(parsed.ok());
    REQUIRE(parsed.keys.size() == 2);
    CHECK(parsed.keys[0] == ExpectedKey{kAlice, {"alice@example.test", "alice2@example.test"}});
    CHECK(parsed.keys[1] == ExpectedKey{kBob, {}});
}

TEST_CASE("expected keys: what format_expected_keys writes reads back the same") {
    const std::vector<ExpectedKey> keys{{kAlice, {"alice@example.test"}}, {kBob, {"bob@example.test", "b@example.test"}}};
    const auto parsed = parse_expected_keys(format_expected_keys(keys), "f");
    REQUIRE(parsed.ok());
    CHECK(parsed.keys == keys);
    CHECK(parse_expected_keys(format_expected_keys({}), "f").keys.empty());
}

TEST_CASE("expected keys: a damaged file is an error naming file and line, never 'expect nothing'") {
    const auto short_fpr = parse_expected_keys(kAlice + " alice@example.test\nABCDEF bob@example.test\n", "/etc/x");
    CHECK_FALSE(short_fpr.ok());
    CHECK(short_fpr.keys.empty());
    CHECK_THAT(short_fpr.error, Catch::StartsWith("/etc/x:2: "));
    const auto not_address = parse_expected_keys(kAlice + " alice\n", "/etc/x");
    CHECK_THAT(not_address.error, Catch::StartsWith("/etc/x:1: ") && Catch::Contains("'alice'"));
    CHECK_FALSE(parse_expected_keys(std::string("\x00garbage", 8), "f").ok());
}

TEST_CASE("missing_keys: the expected keys a listing lacks") {
    const std::vector<ExpectedKey> expected{{kAlice, {"alice@example.test"}}, {kBob, {"bob@example.test"}}};
    CHECK(missing_keys(expected, {kAlice, kBob}).empty());
    CHECK(missing_keys(expected, {"6e6579cbabb47adc8dfcd52713299a5479cb5829", kBob}).empty());  // any case
    const auto lost = missing_keys(expected, {kBob});
    REQUIRE(lost.size() == 1);
    CHECK(lost[0].fingerprint == kAlice);
    CHECK(missing_keys(expected, {}).size() == 2);
    // A v5 key expected by the first 20 bytes of its fingerprint (as a keybox stores it).
    const std::string v5 = kAlice + "0123456789ABCDEF01234567";
    CHECK(missing_keys({{kAlice, {}}}, {v5}).empty());
}
