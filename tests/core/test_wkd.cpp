#include "core/wkd.hpp"

#include <catch2/catch.hpp>

#include <string>

using mdcrypt::wkd_hash;
using mdcrypt::zbase32_encode;

TEST_CASE("z-base-32 takes five bits at a time, most significant first, the last one zero-filled") {
    CHECK(zbase32_encode("").empty());
    CHECK(zbase32_encode(std::string(5, '\0')) == "yyyyyyyy");
    CHECK(zbase32_encode(std::string(5, '\xff')) == "99999999");
    CHECK(zbase32_encode("\xf0") == "6y");  // 11110 000(00)
    CHECK(zbase32_encode(std::string(20, '\0')).size() == 32);
}

TEST_CASE("the WKD hash of a local part is z-base-32 of the SHA-1 of its lower-cased form") {
    // The example of draft-koch-openpgp-webkey-service, section 3.1.
    CHECK(wkd_hash("Joe.Doe") == "iy9q119eutrkn8s1mk4r39qejnbu3n5q");
    CHECK(wkd_hash("joe.doe") == "iy9q119eutrkn8s1mk4r39qejnbu3n5q");
    // As gpg-wks-client --print-wkd-hash prints it.
    CHECK(wkd_hash("alice") == "kei1q4tipxxu1yj79k9kfukdhfy631xe");
    CHECK(wkd_hash("ALICE") == wkd_hash("alice"));
}
