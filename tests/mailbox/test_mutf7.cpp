#include "mailbox/mutf7.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;

TEST_CASE("modified UTF-7 folder names become the UTF-8 names doveadm takes") {
    CHECK(mutf7_to_utf8("INBOX") == "INBOX");
    CHECK(mutf7_to_utf8("&AMQ-rger") == "\xC3\x84rger");                    // Ärger
    CHECK(mutf7_to_utf8("Entw&APw-rfe") == "Entw\xC3\xBCrfe");              // Entwürfe
    CHECK(mutf7_to_utf8("~peter/mail/&U,BTFw-/&ZeVnLIqe-") == "~peter/mail/\xE5\x8F\xB0\xE5\x8C\x97/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
    CHECK(mutf7_to_utf8("Tom &- Jerry") == "Tom & Jerry");
    CHECK(mutf7_to_utf8("&2D3eAA-") == "\xF0\x9F\x98\x80");                  // a surrogate pair: U+1F600
}

TEST_CASE("names that are not modified UTF-7 are refused") {
    CHECK_FALSE(mutf7_to_utf8("&AMQ"));           // no '-'
    CHECK_FALSE(mutf7_to_utf8("&A,-"));           // not a whole UTF-16 unit
    CHECK_FALSE(mutf7_to_utf8("&2D0-"));          // a lone high surrogate
    CHECK_FALSE(mutf7_to_utf8("\xC3\x84rger"));   // raw 8-bit
}
