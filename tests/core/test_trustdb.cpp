// Reading the disabled flags of gpg's trust database (the real file gpg writes is read in
// tests/crypto/test_engine_parity.cpp).
#include "core/trustdb.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;

namespace {

std::string version_record() {
    std::string r(40, '\0');
    r[0] = 1;
    r.replace(1, 3, "gpg");
    return r;
}

std::string trust_record(unsigned char first_byte, unsigned char ownertrust) {
    std::string r(40, '\0');
    r[0] = 12;
    for (int i = 0; i < 20; ++i) r[2 + i] = static_cast<char>(first_byte + i);
    r[22] = static_cast<char>(ownertrust);
    return r;
}

}  // namespace

TEST_CASE("trustdb: trust records with the disabled bit give their fingerprints, others are skipped") {
    std::string hash_table(40, '\0');
    hash_table[0] = 10;
    const TrustDbFlags flags = read_trustdb_disabled(version_record() + hash_table + trust_record(0xa0, 0x80 | 5) +
                                                     trust_record(0x10, 5) + trust_record(0x00, 0x80));
    REQUIRE(flags.ok());
    REQUIRE(flags.disabled.size() == 2);
    CHECK(flags.disabled[0] == "A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3");
    CHECK(flags.disabled[1] == "000102030405060708090A0B0C0D0E0F10111213");
    CHECK(read_trustdb_disabled(version_record()).disabled.empty());
}

TEST_CASE("trustdb: a file that is not a trust database is an error, never none disabled") {
    CHECK_FALSE(read_trustdb_disabled("").ok());
    CHECK_FALSE(read_trustdb_disabled(version_record() + "x").ok());
    CHECK_FALSE(read_trustdb_disabled(std::string(80, 'x')).ok());
    CHECK_THAT(read_trustdb_disabled((version_record() + trust_record(1, 0x80)).substr(0, 60)).error, Catch::Contains("60 bytes"));
}
