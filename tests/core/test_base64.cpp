// Base64 as MIME bodies carry it: lenient about white space, strict about the alphabet.
#include "core/base64.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;

TEST_CASE("streaming base64: pieces, white space and line breaks, a limit, and what ends it") {
    Base64Decoder whole(100);
    CHECK(whole.feed("TW"));
    CHECK(whole.feed("Fu\r\n TW"));
    CHECK(whole.feed("E=\n"));
    CHECK(whole.output() == "ManMa");
    CHECK_FALSE(whole.truncated());

    Base64Decoder limited(2);
    CHECK(limited.feed("TWFuTWFu"));
    CHECK(limited.output() == "Ma");
    CHECK(limited.truncated());

    Base64Decoder lookalike(100);
    CHECK_FALSE(lookalike.feed("TW-u"));
    Base64Decoder after_padding(100);
    CHECK_FALSE(after_padding.feed("TQ==TWFu"));
}
