#include "core/content_type.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

using mdcrypt::ContentType;
using mdcrypt::parse_content_type;
using Params = std::vector<std::pair<std::string, std::string>>;

namespace {

struct Case {
    std::string input;
    std::string type;
    std::string subtype;
    Params params;
};

void check_valid(const std::vector<Case>& cases) {
    for (const auto& c : cases) {
        INFO("input: " << c.input);
        const ContentType ct = parse_content_type(c.input);
        CHECK(ct.valid);
        CHECK(ct.type == c.type);
        CHECK(ct.subtype == c.subtype);
        CHECK(ct.params == c.params);
    }
}

// What every caller must see for an unusable field: RFC 2045 section 5.2's default.
void check_invalid(const std::vector<std::string>& inputs) {
    for (const auto& input : inputs) {
        INFO("input: " << input);
        const ContentType ct = parse_content_type(input);
        CHECK_FALSE(ct.valid);
        CHECK(ct.type == "text");
        CHECK(ct.subtype == "plain");
        CHECK(ct.params == Params{{"charset", "us-ascii"}});
        CHECK(ct.extended.empty());
        CHECK_FALSE(ct.is_multipart());
    }
}

std::string n_params(std::size_t n) {
    std::string s = "text/plain";
    for (std::size_t i = 0; i < n; ++i) s += "; p" + std::to_string(i) + "=v" + std::to_string(i);
    return s;
}

}  // namespace

TEST_CASE("type, subtype and parameter names are case-folded, values are not") {
    check_valid({
        {"text/plain; charset=us-ascii", "text", "plain", {{"charset", "us-ascii"}}},
        {"TEXT/PLAIN; CHARSET=UTF-8", "text", "plain", {{"charset", "UTF-8"}}},
        // Boundaries are case-sensitive (RFC 2046): folding them would break the multipart.
        {"Multipart/Mixed; BOUNDARY=\"AbC\"", "multipart", "mixed", {{"boundary", "AbC"}}},
        {"Multipart/Signed; Protocol=\"application/pgp-signature\"; MicAlg=PGP-SHA256; boundary=xY",
         "multipart",
         "signed",
         {{"protocol", "application/pgp-signature"}, {"micalg", "PGP-SHA256"}, {"boundary", "xY"}}},
        {"text/plain", "text", "plain", {}},
        {"application/vnd.ms-excel.sheet.macroEnabled.12", "application", "vnd.ms-excel.sheet.macroenabled.12", {}},
    });
}

TEST_CASE("param() looks names up case-insensitively and is_multipart() checks the type") {
    const ContentType ct = parse_content_type("MULTIPART/Encrypted; Protocol=\"application/pgp-encrypted\"; boundary=b1");
    CHECK(ct.param("protocol") == "application/pgp-encrypted");
    CHECK(ct.param("PROTOCOL") == "application/pgp-encrypted");
    CHECK(ct.param("Boundary") == "b1");
    CHECK_FALSE(ct.param("charset").has_value());
    CHECK(ct.is_multipart());
    CHECK_FALSE(parse_content_type("text/multipart").is_multipart());
    CHECK_FALSE(parse_content_type("message/rfc822").is_multipart());
}

TEST_CASE("quoted strings: escapes, specials and separators inside quotes") {
    check_valid({
        {R"(text/plain; name="a\"b")", "text", "plain", {{"name", "a\"b"}}},
        {R"(text/plain; name="a\\"; x=y)", "text", "plain", {{"name", "a\\"}, {"x", "y"}}},
        {R"(text/plain; name="\a\b\c")", "text", "plain", {{"name", "abc"}}},
        {R"(multipart/mixed; boundary="a;b")", "multipart", "mixed", {{"boundary", "a;b"}}},
        {R"(multipart/mixed; boundary="x\";y"; charset=z)", "multipart", "mixed", {{"boundary", "x\";y"}, {"charset", "z"}}},
        {R"x(text/plain; name="(not a comment)")x", "text", "plain", {{"name", "(not a comment)"}}},
        {R"(text/plain; name="")", "text", "plain", {{"name", ""}}},
        {R"(text/plain; name="  spaced  ")", "text", "plain", {{"name", "  spaced  "}}},
        {"text/plain; name=\"Gr\xc3\xb6\xc3\x9f" "e.pdf\"", "text", "plain", {{"name", "Gr\xc3\xb6\xc3\x9f" "e.pdf"}}},
        // A value that was not unfolded reads like the unfolded one.
        {"text/plain; name=\"a\r\n b\"", "text", "plain", {{"name", "a b"}}},
    });
}

TEST_CASE("boundaries made of RFC 2046 special characters") {
    check_valid({
        {R"(multipart/mixed; boundary="'()+_,-./:=? x")", "multipart", "mixed", {{"boundary", "'()+_,-./:=? x"}}},
        {R"(multipart/alternative; boundary="----=_Part_0_1234.5678")",
         "multipart",
         "alternative",
         {{"boundary", "----=_Part_0_1234.5678"}}},
        {"multipart/mixed; boundary=simple-boundary_1.2'+", "multipart", "mixed", {{"boundary", "simple-boundary_1.2'+"}}},
        {R"(multipart/mixed; boundary="mdcrypt.0123abcd_")", "multipart", "mixed", {{"boundary", "mdcrypt.0123abcd_"}}},
    });
}

TEST_CASE("comments and white space are allowed between any two tokens") {
    const Params ascii{{"charset", "us-ascii"}};
    check_valid({
        {"(c)text/plain; charset=us-ascii", "text", "plain", ascii},
        {"text(c)/plain; charset=us-ascii", "text", "plain", ascii},
        {"text/(c)plain; charset=us-ascii", "text", "plain", ascii},
        {"text/plain(c); charset=us-ascii", "text", "plain", ascii},
        {"text/plain;(c)charset=us-ascii", "text", "plain", ascii},
        {"text/plain; charset(c)=us-ascii", "text", "plain", ascii},
        {"text/plain; charset=(c)us-ascii", "text", "plain", ascii},
        {"text/plain; charset=us-ascii(c)", "text", "plain", ascii},
        {"text/plain; charset=\"us-ascii\"(c)", "text", "plain", ascii},
        {"text/plain; charset=us-ascii;(c)", "text", "plain", ascii},
        // RFC 2045 section 5.1: these two are equivalent.
        {"text/plain; charset=us-ascii (Plain text)", "text", "plain", ascii},
        {"text/plain; charset=\"us-ascii\"", "text", "plain", ascii},
        {"text/plain (a (b (c)) d); charset=us-ascii", "text", "plain", ascii},
        {R"(text/plain (a;b="c" ; d=e); charset=us-ascii)", "text", "plain", ascii},
        {R"(text/plain (a \) b \( c); charset=us-ascii)", "text", "plain", ascii},
        {"text/plain (\xc3\xa9t\xc3\xa9); charset=us-ascii", "text", "plain", ascii},
        {" text / plain ; charset = us-ascii ", "text", "plain", ascii},
        {"text/plain;\r\n\tcharset=us-ascii", "text", "plain", ascii},
        {"text/plain; charset=us-ascii;", "text", "plain", ascii},
        {"text/plain;; ;charset=us-ascii;;", "text", "plain", ascii},
    });
}

TEST_CASE("comments nest up to the stated depth") {
    const std::string depth = std::to_string(mdcrypt::kMaxContentTypeCommentDepth);
    const auto nested = [](int n) {
        return "text/plain " + std::string(static_cast<std::size_t>(n), '(') + "x" +
               std::string(static_cast<std::size_t>(n), ')') + "; charset=utf-8";
    };
    INFO("depth limit " << depth);
    const ContentType at_limit = parse_content_type(nested(mdcrypt::kMaxContentTypeCommentDepth));
    CHECK(at_limit.valid);
    CHECK(at_limit.param("charset") == "utf-8");
    check_invalid({nested(mdcrypt::kMaxContentTypeCommentDepth + 1), nested(100'000)});
}

TEST_CASE("RFC 2231 examples decode to the values the RFC gives") {
    SECTION("section 3: parameter value continuations") {
        const ContentType ct = parse_content_type(
            "message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n"
            " URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"");
        REQUIRE(ct.valid);
        CHECK(ct.params == Params{{"access-type", "URL"}, {"url", "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"}});
        CHECK(ct.extended.empty());
    }
    SECTION("section 4: character set and language") {
        const ContentType ct =
            parse_content_type("application/x-stuff;\r\n title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A");
        REQUIRE(ct.valid);
        CHECK(ct.params == Params{{"title", "This is ***fun***"}});
        REQUIRE(ct.extended.size() == 1);
        CHECK(ct.extended[0].name == "title");
        CHECK(ct.extended[0].charset == "us-ascii");
        CHECK(ct.extended[0].language == "en-us");
    }
    SECTION("section 4.1: continuations and character sets combined") {
        // The RFC's text lacks the ';' separators (a known erratum); they are required.
        const ContentType ct = parse_content_type(
            "application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
            " title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\"");
        REQUIRE(ct.valid);
        CHECK(ct.params == Params{{"title", "This is even more ***fun*** isn't it!"}});
        REQUIRE(ct.extended.size() == 1);
        CHECK(ct.extended[0].charset == "us-ascii");
        CHECK(ct.extended[0].language == "en");
    }
}

TEST_CASE("RFC 2231 continuations and extended values") {
    check_valid({
        {"application/x-stuff; title*0*=us-ascii'en'This%20is; title*1*=%20fun", "application", "x-stuff", {{"title", "This is fun"}}},
        // Parameters are unordered: segments join by number, not by position.
        {"text/plain; title*1=\"b\"; x=1; title*0=a", "text", "plain", {{"title", "ab"}, {"x", "1"}}},
        // A gap ends the value; segments after it are ignored.
        {"text/plain; title*0=a; title*1=b; title*3=d", "text", "plain", {{"title", "ab"}}},
        // Without segment 0 there is no value: the parameter is absent.
        {"text/plain; title*1=b; charset=x", "text", "plain", {{"charset", "x"}}},
        // Segment numbers are "0" or start with 1-9; anything else is an ordinary name.
        {"text/plain; title*01=x", "text", "plain", {{"title*01", "x"}}},
        {"text/plain; a*b=x; c*'*=y", "text", "plain", {{"a*b", "x"}, {"c*'*", "y"}}},
        // Huge segment numbers neither overflow nor join.
        {"text/plain; t*0=a; t*99999999999999999999999=z", "text", "plain", {{"t", "a"}}},
        {"text/plain; TITLE*0*=UTF-8''%C3%A9; Title*1=x", "text", "plain", {{"title", "\xc3\xa9x"}}},
        // Only segments marked '*' are percent-decoded.
        {"text/plain; t*0=a%20; t*1*=b%20", "text", "plain", {{"t", "a%20b "}}},
        {"text/plain; filename*=UTF-8''Gr%C3%B6%c3%9f" "e.pdf", "text", "plain", {{"filename", "Gr\xc3\xb6\xc3\x9f" "e.pdf"}}},
        // A '%' without two hex digits stays as written.
        {"text/plain; t*=''100%25%zz%4", "text", "plain", {{"t", "100%%zz%4"}}},
        // Without charset'language' the whole value is the text.
        {"text/plain; t*=a%20b", "text", "plain", {{"t", "a b"}}},
        {"text/plain; t*=\"us-ascii''a%20b\"", "text", "plain", {{"t", "a b"}}},
    });

    const ContentType utf8 = parse_content_type("text/plain; filename*=UTF-8''%E2%82%AC.txt; name=plain");
    REQUIRE(utf8.extended.size() == 1);
    CHECK(utf8.extended[0].name == "filename");
    CHECK(utf8.extended[0].charset == "utf-8");
    CHECK(utf8.extended[0].language.empty());
    CHECK(utf8.param("filename") == "\xe2\x82\xac.txt");  // the bytes in their charset, not converted
}

TEST_CASE("a repeated parameter keeps its first occurrence, whatever its form") {
    check_valid({
        {"text/plain; charset=a; charset=b", "text", "plain", {{"charset", "a"}}},
        {"text/plain; charset=a; CHARSET=\"b\"", "text", "plain", {{"charset", "a"}}},
        {"multipart/mixed; boundary=first; boundary=second", "multipart", "mixed", {{"boundary", "first"}}},
        {"text/plain; title=plain; title*=utf-8''ext", "text", "plain", {{"title", "plain"}}},
        {"text/plain; title*=utf-8''ext; title=plain", "text", "plain", {{"title", "ext"}}},
        {"text/plain; title=plain; title*0=c0; title*1=c1", "text", "plain", {{"title", "plain"}}},
        {"text/plain; title*0=c0; title=plain; title*1=c1", "text", "plain", {{"title", "c0c1"}}},
        {"text/plain; t*0=a; t*0=b; t*1=c", "text", "plain", {{"t", "ac"}}},
    });
    // The winner's extended metadata is reported, a loser's is not.
    CHECK(parse_content_type("text/plain; title=plain; title*=utf-8''ext").extended.empty());
}

TEST_CASE("invalid fields give the RFC 2045 default, text/plain with charset us-ascii") {
    check_invalid({
        "",
        "   ",
        "(only a comment)",
        "text",
        "text/",
        "/plain",
        "text/plain garbage",
        "te xt/plain",
        "text/plain/html",
        "text/plain; charset",
        "text/plain; charset=",
        "text/plain; =x",
        "text/plain; a=b c=d",
        "text/plain, charset=x",
        "@@@;;;===\"\"\"",
        "text/plain; name=\"abc",
        "text/plain; name=\"abc\\",
        "text/plain (abc; charset=x",
        "text/plain; charset=us-ascii)",
        "text/plain; name=a\"b\"",
        // '=' is a tspecial: such a boundary must be quoted.
        "multipart/mixed; boundary==_abc",
        "text/pl\x01" "ain",
        "text/plain; name=Gr\xc3\xb6\xc3\x9f" "e",
        std::string("te\0xt/plain", 11),
        std::string("text/plain; name=\"a\0b\"", 22),
        std::string("text/plain (a\0b); x=y", 21),
        std::string("text/plain; x=y\0", 16),
        "text/plain; t*=''a%00b",
    });
}

TEST_CASE("a malformed multipart/encrypted is not taken for an encrypted message") {
    check_invalid({
        "multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"abc",
        "multipart/encrypted; protocol=\"application/pgp-encrypted\" boundary=abc",
        "multipart/encrypted (; protocol=\"application/pgp-encrypted\"; boundary=abc",
    });
}

TEST_CASE("parameter count limit") {
    const ContentType at_limit = parse_content_type(n_params(mdcrypt::kMaxContentTypeParams));
    REQUIRE(at_limit.valid);
    REQUIRE(at_limit.params.size() == mdcrypt::kMaxContentTypeParams);
    CHECK(at_limit.params.back() == std::pair<std::string, std::string>{
                                        "p" + std::to_string(mdcrypt::kMaxContentTypeParams - 1),
                                        "v" + std::to_string(mdcrypt::kMaxContentTypeParams - 1)});
    check_invalid({n_params(mdcrypt::kMaxContentTypeParams + 1), n_params(100'000)});

    // Duplicates count too, so they cannot be used to hide work.
    std::string dups = "text/plain";
    for (std::size_t i = 0; i <= mdcrypt::kMaxContentTypeParams; ++i) dups += "; charset=x";
    check_invalid({dups});

    // Continuations up to the limit join into one value.
    std::string segments = "text/plain";
    for (std::size_t i = 0; i < mdcrypt::kMaxContentTypeParams; ++i) segments += "; t*" + std::to_string(i) + "=x";
    const ContentType joined = parse_content_type(segments);
    REQUIRE(joined.valid);
    CHECK(joined.param("t") == std::string(mdcrypt::kMaxContentTypeParams, 'x'));
}

TEST_CASE("value length limit") {
    const std::size_t max = mdcrypt::kMaxContentTypeValueBytes;
    const std::string at_limit(max, 'a');
    check_valid({
        {"text/plain; name=" + at_limit, "text", "plain", {{"name", at_limit}}},
        {"text/plain; name=\"" + at_limit + "\"", "text", "plain", {{"name", at_limit}}},
        {"text/plain; name=\"\\" + std::string(max - 1, 'a') + "\\\"\"", "text", "plain", {{"name", std::string(max - 1, 'a') + "\""}}},
    });
    const std::string half(max / 2 + 1, 'a');
    check_invalid({
        "text/plain; name=" + at_limit + "a",
        "text/plain; name=\"" + at_limit + "a\"",
        "text/" + at_limit + "a",
        "text/plain; " + at_limit + "a=x",
        // Each segment is within the limit, the joined value is not.
        "text/plain; t*0=" + half + "; t*1=" + half,
    });
}

TEST_CASE("1 MB inputs are read to the right answer") {
    const std::string mb(1 << 20, 'a');
    SECTION("a 1 MB parameter value is over the limit: the field is invalid, not truncated") {
        check_invalid({"multipart/mixed; boundary=\"" + mb + "\"", "multipart/mixed; boundary=" + mb,
                       "multipart/mixed; boundary*=''" + mb});
    }
    SECTION("1 MB of comment or separators costs nothing to keep") {
        check_valid({
            {"multipart/mixed (" + mb + "); boundary=b", "multipart", "mixed", {{"boundary", "b"}}},
            {"multipart/mixed" + std::string(1 << 20, ';') + "boundary=b", "multipart", "mixed", {{"boundary", "b"}}},
            {"multipart/mixed;" + std::string(1 << 20, ' ') + "boundary=b", "multipart", "mixed", {{"boundary", "b"}}},
        });
    }
    SECTION("an unterminated 1 MB comment or quoted string is invalid") {
        check_invalid({"text/plain; charset=x (" + mb, "text/plain; name=\"" + mb, "text/plain; charset=x " + std::string(1 << 20, '(')});
    }
}

TEST_CASE("param_count counts every segment that sets a name, in any RFC 2231 form") {
    struct Count {
        std::string input;
        std::size_t boundary;
    };
    for (const auto& c : std::vector<Count>{
             {"multipart/mixed; boundary=b", 1},
             {"multipart/mixed; BOUNDARY=\"b\"", 1},
             {"multipart/mixed; boundary*=''b", 1},
             {"multipart/mixed; boundary*0=b", 1},
             {"multipart/mixed; boundary*0=b; boundary*1=c", 2},  // one value, two segments
             {"multipart/mixed; boundary=b; boundary=c", 2},      // param() keeps the first, the count both
             {"multipart/mixed; boundary=b; boundary*0*=''c", 2},
             {"multipart/mixed; boundary*x=b", 1},                // not RFC 2231, but a lenient reader's boundary
             {"multipart/mixed; boundary*01=b", 1},
             {"multipart/mixed; x-boundary=b; boundaryx=c", 0},   // other names
             {"multipart/mixed; name=\"boundary=b\"", 0},         // a value is no parameter
             {"multipart/mixed (boundary=b); x=y", 0},            // nor is a comment
             {"text/plain", 0},
         }) {
        INFO("input: " << c.input);
        const ContentType ct = parse_content_type(c.input);
        REQUIRE(ct.valid);
        CHECK(ct.param_count("boundary") == c.boundary);
        CHECK(ct.param_count("Boundary") == c.boundary);
        CHECK(ct.has_param("boundary") == (c.boundary > 0));
    }
}

TEST_CASE("written_names keeps every segment name as written, lower-cased") {
    const ContentType ct = parse_content_type("text/plain; A=1; t*0*=''x; T*1=y; a=2");
    REQUIRE(ct.valid);
    CHECK(ct.written_names == std::vector<std::string>{"a", "t*0*", "t*1", "a"});
    CHECK(ct.params == Params{{"a", "1"}, {"t", "xy"}});
    // Invalid: the default's, as if "text/plain; charset=us-ascii" had been written.
    CHECK(parse_content_type("text/plain; a=").written_names == std::vector<std::string>{"charset"});
}

TEST_CASE("has_param finds hp and protected-headers in every form") {
    for (const std::string input : {"text/plain; hp=cipher", "text/plain; HP = \"clear\"", "text/plain; hp*=''cipher",
                                    "text/plain; hp*0=\"cip\"; hp*1=\"her\""}) {
        INFO("input: " << input);
        CHECK(parse_content_type(input).has_param("hp"));
    }
    for (const std::string input : {"text/plain; hpx=1", "text/plain; x-hp=1", "text/plain; name=\"hp=cipher\""}) {
        INFO("input: " << input);
        CHECK_FALSE(parse_content_type(input).has_param("hp"));
    }
    CHECK(parse_content_type("text/plain; protected-headers=\"v1\"").has_param("protected-headers"));
    CHECK(parse_content_type("text/plain;\r\n protected-headers*0=v; protected-headers*1=1").has_param("protected-headers"));
    CHECK_FALSE(parse_content_type("text/plain; protected-headers-x=1").has_param("protected-headers"));
}

TEST_CASE("count_mentions finds a word wherever a quote- or comment-blind reader could") {
    CHECK(mdcrypt::count_mentions("multipart/mixed; boundary=b", "boundary") == 1);
    CHECK(mdcrypt::count_mentions("multipart/mixed; BOUNDARY=b", "boundary") == 1);
    CHECK(mdcrypt::count_mentions("multipart/mixed; boundary=b (; boundary=c)", "boundary") == 2);
    CHECK(mdcrypt::count_mentions("multipart/mixed; x=\"; boundary=c\"; boundary=b", "boundary") == 2);
    CHECK(mdcrypt::count_mentions("multipart/mixed; boundary=\"boundary_1\"", "boundary") == 2);
    CHECK(mdcrypt::count_mentions("multipart/mixed; x-boundary=a; boundary=b", "boundary") == 2);
    CHECK(mdcrypt::count_mentions("text/plain", "boundary") == 0);
    CHECK(mdcrypt::count_mentions("", "boundary") == 0);
    CHECK(mdcrypt::count_mentions("aaa", "aa") == 2);  // overlapping occurrences count
    CHECK(mdcrypt::count_mentions("abc", "") == 0);
    // Never fewer than the real parameter count: a single mention means at most one parameter.
    for (const std::string input : {"multipart/mixed; boundary*0=a; boundary*1=b", "multipart/mixed; Boundary=a; boundary*=''b"}) {
        INFO("input: " << input);
        CHECK(mdcrypt::count_mentions(input, "boundary") >= parse_content_type(input).param_count("boundary"));
    }
}

TEST_CASE("Content-Disposition: one token and Content-Type's parameters") {
    using mdcrypt::ContentDisposition;
    using mdcrypt::parse_content_disposition;
    const ContentDisposition a = parse_content_disposition("Attachment; FileName=\"smime.p7m\"; size=12");
    REQUIRE(a.valid);
    CHECK(a.type == "attachment");
    CHECK(a.params == Params{{"filename", "smime.p7m"}, {"size", "12"}});
    CHECK(a.param("FILENAME") == "smime.p7m");

    const ContentDisposition inl = parse_content_disposition("  inline (shown) ;");
    REQUIRE(inl.valid);
    CHECK(inl.type == "inline");
    CHECK(inl.params.empty());

    const ContentDisposition ext = parse_content_disposition("attachment;\r\n filename*0*=UTF-8''Gr%C3%B6; filename*1=\"sse.p7m\"");
    REQUIRE(ext.valid);
    CHECK(ext.param("filename") == "Gr\xc3\xb6sse.p7m");
    REQUIRE(ext.extended.size() == 1);
    CHECK(ext.extended[0].charset == "utf-8");
    CHECK(ext.param_count("filename") == 2);

    for (const std::string& input : std::vector<std::string>{"", "  ", "; filename=a.p7m", "attachment/x; filename=a.p7m", "attachment filename=a",
                                    "attachment; filename", "attachment; filename=\"a.p7m", "attach ment",
                                    "attachment; filename=a b", std::string("attachment; filename=a\0", 23),
                                    n_params(mdcrypt::kMaxContentTypeParams + 1).substr(std::string("text/").size())}) {
        INFO("input: " << input);
        const ContentDisposition d = parse_content_disposition(input);
        CHECK_FALSE(d.valid);
        CHECK(d.type.empty());
        CHECK(d.params.empty());
        CHECK_FALSE(d.param("filename").has_value());
    }
}
