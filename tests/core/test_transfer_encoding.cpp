#include "core/transfer_encoding.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/header.hpp"

using namespace mdcrypt;

namespace {

std::optional<std::string> cte(const std::string& header_block, std::string& why) {
    return transfer_encoding_of(parse_header_block(header_block + "\r\n").fields, why);
}

}  // namespace

TEST_CASE("hex_value reads hex digits of either case and nothing else") {
    CHECK(hex_value('0') == 0);
    CHECK(hex_value('9') == 9);
    CHECK(hex_value('a') == 10);
    CHECK(hex_value('F') == 15);
    for (char c : std::string("gG/:@`\0 =", 9)) {
        INFO(static_cast<int>(c));
        CHECK(hex_value(c) == -1);
    }
}

TEST_CASE("transfer_encoding_of: the default, the value lower-cased, and a repeated field refused") {
    std::string why;
    CHECK(cte("Subject: x\r\n", why) == "7bit");
    CHECK(cte("Content-Transfer-Encoding: Base64\r\n", why) == "base64");
    CHECK(cte("content-transfer-encoding:\r\n\tQuoted-Printable\r\n", why) == "quoted-printable");
    // Anything besides the mechanism leaves a name no caller decodes: strict on purpose.
    CHECK(cte("Content-Transfer-Encoding: base64 (comment)\r\n", why) == "base64 (comment)");
    CHECK(why.empty());
    CHECK_FALSE(cte("Content-Transfer-Encoding: base64\r\nContent-Transfer-Encoding: 7bit\r\n", why).has_value());
    CHECK(why == "more than one Content-Transfer-Encoding field");
}

TEST_CASE("decode_quoted_printable: escapes, soft line breaks, and a '=' that is neither") {
    struct Case {
        std::string in;
        std::string out;
    };
    for (const auto& c : std::vector<Case>{
             {"", ""},
             {"plain text\r\n", "plain text\r\n"},
             {"caf=C3=A9", "caf\xc3\xa9"},
             {"caf=c3=a9", "caf\xc3\xa9"},
             {"=3D=00=FF", std::string("=\0\xff", 3)},
             {"soft=\r\nbreak", "softbreak"},
             {"soft=\nbreak", "softbreak"},
             {"a=\r\n", "a"},
             {"not=an escape", "not=an escape"},
             {"=G1", "=G1"},
             {"=4", "=4"},    // cut off at the end: kept
             {"=", "="},
             {"a=\r", "a=\r"},  // a bare CR is no line end
             {"==41", "=A"},
             {"x= \r\ny", "x= \r\ny"},  // white space before the line end is not dropped (as before)
         }) {
        INFO("input: " << c.in);
        CHECK(decode_quoted_printable(c.in) == c.out);
    }
}

TEST_CASE("decode_quoted_printable never grows its input") {
    std::string hostile;
    for (int i = 0; i < 100'000; ++i) hostile += (i % 3 == 0) ? "=" : (i % 3 == 1 ? "=4" : "=\r\n");
    CHECK(decode_quoted_printable(hostile).size() <= hostile.size());
    const std::string all_escapes(300'000, '=');
    CHECK(decode_quoted_printable(all_escapes) == all_escapes);
}
