#include "mailbox/imap_value.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;

TEST_CASE("a FETCH response with flags, date, modseq and a literal body reads as its items") {
    const std::string line = std::string("12 FETCH (UID 7 FLAGS (\\Seen $Label1) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" MODSEQ (42) BODY[] ") +
                             kLiteralMarker + ")";
    const auto values = parse_imap_values(line);
    REQUIRE(values.size() == 3);
    CHECK(values[1].is_atom("fetch"));
    const FetchItems items = read_fetch_items(values[2]);
    CHECK(items.uid == 7u);
    CHECK(items.flags == std::vector<std::string>{"\\Seen", "$Label1"});
    CHECK(items.internal_date == "17-Jul-1996 02:44:25 -0700");
    CHECK(items.modseq == 42u);
    CHECK(items.body_literal == 0u);
}

TEST_CASE("quoted strings keep escaped quotes and backslashes, NIL is not an atom") {
    const auto values = parse_imap_values("\"a \\\"b\\\" \\\\c\" NIL (\\HasNoChildren) \".\"");
    REQUIRE(values.size() == 4);
    CHECK(values[0].text == "a \"b\" \\c");
    CHECK(values[1].kind == ImapValue::Kind::Nil);
    CHECK(values[2].items.at(0).is_atom("\\HasNoChildren"));
    CHECK(values[3].text == ".");
}

TEST_CASE("a bracketed section with spaces stays one atom") {
    const auto values = parse_imap_values("BODY[HEADER.FIELDS (SUBJECT FROM)] NIL");
    REQUIRE(values.size() == 2);
    CHECK(values[0].text == "BODY[HEADER.FIELDS (SUBJECT FROM)]");
}

TEST_CASE("broken responses throw instead of being half read") {
    CHECK_THROWS_AS(parse_imap_values("(UID 7"), ImapProtocolError);
    CHECK_THROWS_AS(parse_imap_values("\"open"), ImapProtocolError);
    CHECK_THROWS_AS(parse_imap_values("a)"), ImapProtocolError);
    CHECK_THROWS_AS(parse_imap_values(std::string(17, '(') + std::string(17, ')')), ImapProtocolError);
    CHECK_NOTHROW(parse_imap_values(std::string(16, '(') + std::string(16, ')')));
    CHECK_THROWS_AS(read_fetch_items(parse_imap_values("(UID)").at(0)), ImapProtocolError);
    CHECK_THROWS_AS(read_fetch_items(parse_imap_values("(UID x7)").at(0)), ImapProtocolError);
    CHECK_THROWS_AS(read_fetch_items(parse_imap_values("(UID 4294967296)").at(0)), ImapProtocolError);
}

TEST_CASE("UID sets fold ranges and read back the same UIDs") {
    CHECK(imap_uid_set({1, 2, 3, 7, 9, 10}) == "1:3,7,9:10");
    CHECK(imap_uid_set({5}) == "5");
    CHECK(parse_uid_set("1:3,7,10:9") == std::vector<std::uint32_t>{1, 2, 3, 7, 9, 10});
    CHECK_THROWS_AS(parse_uid_set("1:4294967295", 1000), ImapProtocolError);
    CHECK_THROWS_AS(parse_uid_set("1,,2"), ImapProtocolError);
}

TEST_CASE("quoting escapes what IMAP needs and refuses what only a literal can carry") {
    CHECK(imap_quoted("Archive/2019") == "\"Archive/2019\"");
    CHECK(imap_quoted("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK_THROWS_AS(imap_quoted("a\r\nb"), std::invalid_argument);
}

TEST_CASE("the response code of a status text") {
    CHECK(response_code("[APPENDUID 38505 3955] APPEND completed") == "APPENDUID 38505 3955");
    CHECK(response_code("[MODIFIED 7,9] Conditional store failed") == "MODIFIED 7,9");
    CHECK(response_code("Completed").empty());
}
