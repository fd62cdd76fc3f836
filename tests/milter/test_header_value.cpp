#include <catch2/catch.hpp>

#include "milter/header_value.hpp"

using mdcrypt::milter::value_from_mta;
using mdcrypt::milter::value_to_mta;

TEST_CASE("with HDR_LEADSPC the value arrives with its leading space and is kept as is") {
    CHECK(value_from_mta(" hello", true) == " hello");
    CHECK(value_from_mta("\thello", true) == "\thello");
    CHECK(value_from_mta("hello", true) == "hello");  // "Name:hello" on the wire
}

TEST_CASE("without HDR_LEADSPC the space the MTA stripped is put back") {
    CHECK(value_from_mta("hello", false) == " hello");
    CHECK(value_from_mta("", false) == " ");
}

TEST_CASE("LF continuation lines become CRLF, CRLF stays") {
    CHECK(value_from_mta(" text/plain;\n\tcharset=utf-8", true) == " text/plain;\r\n\tcharset=utf-8");
    CHECK(value_from_mta(" a\n b\n\tc", true) == " a\r\n b\r\n\tc");
    CHECK(value_from_mta(" a\r\n b", true) == " a\r\n b");
    CHECK(value_from_mta("a\n b", false) == " a\r\n b");
}

TEST_CASE("values sent back use LF folding and drop the leading space only without HDR_LEADSPC") {
    const std::string core = " multipart/encrypted;\r\n\tprotocol=\"application/pgp-encrypted\";\r\n\tboundary=\"b\"";
    CHECK(value_to_mta(core, true) == " multipart/encrypted;\n\tprotocol=\"application/pgp-encrypted\";\n\tboundary=\"b\"");
    CHECK(value_to_mta(core, false) == "multipart/encrypted;\n\tprotocol=\"application/pgp-encrypted\";\n\tboundary=\"b\"");
    CHECK(value_to_mta(" 1.0", true) == " 1.0");
    CHECK(value_to_mta(" 1.0", false) == "1.0");
    CHECK(value_to_mta("\tx", false) == "\tx");  // only a space is what the MTA adds back
    CHECK(value_to_mta("", false).empty());
}

TEST_CASE("a value survives the round trip through the MTA byte for byte") {
    for (const bool leadspc : {true, false}) {
        const std::string raw = " text/plain;\r\n\tcharset=\"utf-8\";\r\n format=flowed";
        CHECK(value_from_mta(value_to_mta(raw, leadspc), leadspc) == raw);
    }
}
