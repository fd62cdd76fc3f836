// Base64, strict (key files) and lenient streaming (mail being inspected): the same alphabet, the
// differences on purpose.
#include "core/base64.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;

TEST_CASE("strict base64: padding, length and unused bits must be exact, no white space") {
    std::string out;
    CHECK((base64_decode("TWFu", out) && out == "Man"));
    CHECK((base64_decode("TWE=", out) && out == "Ma"));
    CHECK((base64_decode("TQ==", out) && out == "M"));
    CHECK((base64_decode("", out) && out.empty()));
    CHECK_FALSE(base64_decode("TWF", out));
    CHECK_FALSE(base64_decode("TW!u", out));
    CHECK_FALSE(base64_decode("TR==", out));  // non-zero unused bits
    CHECK_FALSE(base64_decode("TW Fu", out));
}

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
