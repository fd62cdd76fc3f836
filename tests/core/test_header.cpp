#include "core/header.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "core/line_ends.hpp"

using mdcrypt::HeaderField;
using mdcrypt::parse_header_block;
using mdcrypt::ParsedHeader;

namespace {

std::string serialize_all(const std::vector<HeaderField>& fields) {
    std::string out;
    for (const auto& f : fields) out += mdcrypt::serialize_field(f);
    return out;
}

bool at_line_start(std::string_view message, std::size_t offset) {
    return offset == 0 || (offset <= message.size() && message[offset - 1] == '\n');
}

}  // namespace

TEST_CASE("folded fields keep their bytes in raw_value") {
    const std::string msg =
        "Subject: a\r\n b\r\n\tc  \r\n"
        "To:x@example.org\r\n"
        "X-Empty:\r\n"
        "\r\n"
        "body\r\n";
    const ParsedHeader h = parse_header_block(msg);
    REQUIRE(h.fields.size() == 3);
    CHECK(h.fields[0].name == "Subject");
    CHECK(h.fields[0].raw_value == " a\r\n b\r\n\tc  ");
    CHECK(h.fields[1].name == "To");
    CHECK(h.fields[1].raw_value == "x@example.org");
    CHECK(h.fields[2].name == "X-Empty");
    CHECK(h.fields[2].raw_value.empty());
    CHECK(msg.substr(h.body_offset) == "body\r\n");
    CHECK_FALSE(h.lf_line_ends);
    CHECK_FALSE(h.oversized);
    CHECK(h.defects.empty());
    CHECK(mdcrypt::unfold(h.fields[0].raw_value) == "a b\tc");
}

TEST_CASE("LF and CRLF input give the same fields, with CRLF in raw_value") {
    const std::string crlf = "Subject: a\r\n b\r\nTo: x\r\n\r\nbody\r\n";
    const std::string lf = "Subject: a\n b\nTo: x\n\nbody\n";
    const ParsedHeader from_crlf = parse_header_block(crlf);
    const ParsedHeader from_lf = parse_header_block(lf);
    REQUIRE(from_lf.fields.size() == 2);
    CHECK(from_lf.fields[0].raw_value == " a\r\n b");
    CHECK(from_lf.fields[0].raw_value == from_crlf.fields[0].raw_value);
    CHECK(from_lf.fields[1].raw_value == from_crlf.fields[1].raw_value);
    CHECK(lf.substr(from_lf.body_offset) == "body\n");
    CHECK(crlf.substr(from_crlf.body_offset) == "body\r\n");
    CHECK(from_lf.lf_line_ends);
    CHECK_FALSE(from_crlf.lf_line_ends);
    // Mixed line ends are not "LF input": a CRLF line end means the rewrite must not add CRs.
    CHECK_FALSE(parse_header_block("A: 1\nB: 2\r\n\r\n").lf_line_ends);
}

TEST_CASE("a leading mbox From line is the envelope, not a field") {
    const std::string msg = "From alice@example.org Mon Jan  1 00:00:00 2024\nSubject: hi\n\nbody\n";
    const ParsedHeader h = parse_header_block(msg);
    CHECK(h.envelope_line == "From alice@example.org Mon Jan  1 00:00:00 2024\n");
    REQUIRE(h.fields.size() == 1);
    CHECK(h.fields[0].name == "Subject");
    CHECK(msg.substr(h.body_offset) == "body\n");
    CHECK(h.defects.empty());

    const ParsedHeader field = parse_header_block("From: alice@example.org\r\n\r\n");
    CHECK(field.envelope_line.empty());
    REQUIRE(field.fields.size() == 1);
    CHECK(field.fields[0].name == "From");
}

TEST_CASE("the first line that is not a header field starts the body") {
    const std::vector<std::string> not_fields = {
        "This is not a header\r\n", "Not a header: it has a space\r\n", ": empty name\r\n", "\x01" "bad: x\r\n"};
    for (const auto& line : not_fields) {
        INFO("line: " << line);
        const std::string msg = "Subject: x\r\n" + line + "To: y\r\n\r\nbody";
        const ParsedHeader h = parse_header_block(msg);
        REQUIRE(h.fields.size() == 1);
        CHECK(h.fields[0].name == "Subject");
        CHECK(h.body_offset == std::string_view("Subject: x\r\n").size());
        CHECK(h.defects.size() == 1);
        CHECK_FALSE(h.oversized);
    }
}

TEST_CASE("a continuation line before any field starts the body at offset 0") {
    const std::string msg = " folded\r\nSubject: x\r\n\r\nbody";
    const ParsedHeader h = parse_header_block(msg);
    CHECK(h.fields.empty());
    CHECK(h.body_offset == 0);
    CHECK(h.defects.size() == 1);

    const std::string after_envelope = "From a@b Mon Jan  1 00:00:00 2024\n\tfolded\nSubject: x\n\n";
    const ParsedHeader e = parse_header_block(after_envelope);
    CHECK(e.fields.empty());
    CHECK(e.body_offset == e.envelope_line.size());
}

TEST_CASE("a header-only message has an empty body at its end") {
    for (const std::string msg : {"Subject: x\r\nTo: y\r\n", "Subject: x\r\nTo: y", "Subject: x\nTo: y\n"}) {
        INFO("message: " << msg);
        const ParsedHeader h = parse_header_block(msg);
        REQUIRE(h.fields.size() == 2);
        CHECK(h.fields[1].name == "To");
        CHECK(h.fields[1].raw_value == " y");
        CHECK(h.body_offset == msg.size());
        CHECK(h.defects.empty());
    }
    const ParsedHeader empty = parse_header_block("");
    CHECK(empty.fields.empty());
    CHECK(empty.body_offset == 0);
    const ParsedHeader no_header = parse_header_block("\r\nbody");
    CHECK(no_header.fields.empty());
    CHECK(no_header.body_offset == 2);
}

TEST_CASE("NUL bytes in the header are recorded as defects and kept") {
    const std::string msg("Subject: a\0b\r\nTo: y\r\n\r\nbody", 27);
    const ParsedHeader h = parse_header_block(msg);
    REQUIRE(h.fields.size() == 2);
    CHECK(h.fields[0].raw_value == std::string(" a\0b", 4));
    CHECK(h.defects.size() == 1);
    CHECK(msg.substr(h.body_offset) == "body");

    // A NUL in the name makes the line a non-field: the body starts there.
    const std::string in_name("Sub\0ject: a\r\n\r\n", 15);
    const ParsedHeader n = parse_header_block(in_name);
    CHECK(n.fields.empty());
    CHECK(n.body_offset == 0);
    CHECK(n.defects.size() == 2);
}

TEST_CASE("the field count limit makes the block oversized at a line start") {
    std::string at_limit;
    for (std::size_t i = 0; i < mdcrypt::kMaxHeaderFields; ++i) at_limit += "X-N: " + std::to_string(i) + "\r\n";

    const ParsedHeader full = parse_header_block(at_limit + "\r\nbody");
    CHECK_FALSE(full.oversized);
    CHECK(full.fields.size() == mdcrypt::kMaxHeaderFields);

    const std::string over = at_limit + "X-Over: y\r\n\r\nbody";
    const ParsedHeader h = parse_header_block(over);
    CHECK(h.oversized);
    CHECK(h.fields.size() == mdcrypt::kMaxHeaderFields);
    CHECK(h.body_offset == at_limit.size());
    CHECK(at_line_start(over, h.body_offset));
    CHECK_FALSE(h.defects.empty());

    // Continuation lines of the last allowed field are still part of it.
    const ParsedHeader folded = parse_header_block(at_limit + " more\r\n\r\nbody");
    CHECK_FALSE(folded.oversized);
    CHECK(folded.fields.back().raw_value == " " + std::to_string(mdcrypt::kMaxHeaderFields - 1) + "\r\n more");
}

TEST_CASE("the line count limit stops a field folded without end") {
    std::string msg = "Subject: x\r\n";
    for (std::size_t i = 0; i < mdcrypt::kMaxHeaderFields * 4; ++i) msg += " c\r\n";
    msg += "\r\nbody";
    const ParsedHeader h = parse_header_block(msg);
    CHECK(h.oversized);
    CHECK(h.fields.size() == 1);
    CHECK(h.body_offset < msg.size() - 6);
    CHECK(at_line_start(msg, h.body_offset));
}

TEST_CASE("the byte limit makes the block oversized at a line start") {
    const std::string first = "A: a\r\n";
    SECTION("a header block of exactly the limit is accepted") {
        const std::string pad(mdcrypt::kMaxHeaderBlockBytes - first.size() - std::string_view("B: \r\n").size(), 'b');
        const std::string msg = first + "B: " + pad + "\r\n\r\nbody";
        const ParsedHeader h = parse_header_block(msg);
        CHECK_FALSE(h.oversized);
        CHECK(h.fields.size() == 2);
        CHECK(msg.substr(h.body_offset) == "body");
    }
    SECTION("one byte more is oversized, and the body starts at the line that crossed the limit") {
        for (const std::string eol : {"\r\n", "\n"}) {
            // The B line, with its line end, ends one byte past the limit.
            const std::string pad(mdcrypt::kMaxHeaderBlockBytes + 1 - first.size() - 3 - eol.size(), 'b');
            const std::string msg = first + "B: " + pad + eol + eol + "body";
            const ParsedHeader h = parse_header_block(msg);
            CHECK(h.oversized);
            REQUIRE(h.fields.size() == 1);
            CHECK(h.fields[0].name == "A");
            CHECK(h.body_offset == first.size());
            CHECK(at_line_start(msg, h.body_offset));
        }
    }
}

TEST_CASE("the envelope line counts toward the byte limit") {
    // The pipe filter parses only the first kMaxHeaderBlockBytes + 4 bytes: a longer envelope line has
    // no line end there. Taking it as the envelope would leave the body mid-line and copy the line out
    // in clear; the whole message must be body instead.
    const std::string truncated = "From " + std::string(mdcrypt::kMaxHeaderBlockBytes, 'x');
    const ParsedHeader cut = parse_header_block(truncated);
    CHECK(cut.oversized);
    CHECK(cut.envelope_line.empty());
    CHECK(cut.fields.empty());
    CHECK(cut.body_offset == 0);

    const std::string ended = "From " + std::string(mdcrypt::kMaxHeaderBlockBytes, 'x') + "\nSubject: x\n\nbody";
    const ParsedHeader whole = parse_header_block(ended);
    CHECK(whole.oversized);
    CHECK(whole.envelope_line.empty());
    CHECK(whole.fields.empty());
    CHECK(whole.body_offset == 0);

    // An envelope line that ends exactly at the limit is still the envelope.
    const std::string at_limit = "From " + std::string(mdcrypt::kMaxHeaderBlockBytes - 6, 'x') + "\n";
    const ParsedHeader fits = parse_header_block(at_limit + "\nbody");
    CHECK_FALSE(fits.oversized);
    CHECK(fits.envelope_line == at_limit);
    CHECK(fits.body_offset == at_limit.size() + 1);
}

TEST_CASE("serialize_field reproduces the header block byte for byte") {
    const std::string block =
        "Received: from a\r\n\tby b;\r\n Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        "Subject:no space\r\n"
        "X-Empty:\r\n"
        "X-Trailing: v \t\r\n"
        "Content-Type: multipart/mixed;\r\n boundary=\"x\"\r\n"
        "X-Blank-Continuation: a\r\n \r\n";
    const ParsedHeader from_crlf = parse_header_block(block + "\r\nbody");
    CHECK(serialize_all(from_crlf.fields) == block);

    // LF input comes back as its CRLF form.
    std::string lf_block;
    for (char c : block)
        if (c != '\r') lf_block.push_back(c);
    const ParsedHeader from_lf = parse_header_block(lf_block + "\nbody");
    CHECK(serialize_all(from_lf.fields) == block);
    CHECK(mdcrypt::to_crlf(lf_block) == block);

    CHECK(mdcrypt::serialize_field({"Subject", " x"}) == "Subject: x\r\n");
}

TEST_CASE("to_crlf turns bare LF into CRLF and leaves everything else") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"", ""},
        {"\n", "\r\n"},
        {"a\nb", "a\r\nb"},
        {"a\r\nb", "a\r\nb"},
        {"\n\n", "\r\n\r\n"},
        {"\r\n\n", "\r\n\r\n"},
        {"a\rb", "a\rb"},
        {"a\r\r\n", "a\r\r\n"},
    };
    for (const auto& [in, out] : cases) {
        INFO("input size " << in.size());
        CHECK(mdcrypt::to_crlf(in) == out);
    }
}

TEST_CASE("unfold removes line ends and surrounding white space") {
    CHECK(mdcrypt::unfold(" a\r\n b") == "a b");
    CHECK(mdcrypt::unfold("\r\n\t x \t") == "x");
    CHECK(mdcrypt::unfold(" multipart/mixed;\r\n\tboundary=\"x\"") == "multipart/mixed;\tboundary=\"x\"");
    CHECK(mdcrypt::unfold(" a\n b") == "a b");
    CHECK(mdcrypt::unfold("").empty());
    CHECK(mdcrypt::unfold(" \t\r\n ").empty());
}

TEST_CASE("is_content_field matches Content-* names only") {
    CHECK(mdcrypt::is_content_field("Content-Type"));
    CHECK(mdcrypt::is_content_field("content-transfer-encoding"));
    CHECK(mdcrypt::is_content_field("CONTENT-ID"));
    CHECK(mdcrypt::is_content_field("Content-X"));
    CHECK_FALSE(mdcrypt::is_content_field("Content-"));
    CHECK_FALSE(mdcrypt::is_content_field("Content"));
    CHECK_FALSE(mdcrypt::is_content_field("Contents-Type"));
    CHECK_FALSE(mdcrypt::is_content_field("X-Content-Type"));
    CHECK_FALSE(mdcrypt::is_content_field("MIME-Version"));
}

TEST_CASE("first_value and count_fields compare names case-insensitively") {
    const ParsedHeader h = parse_header_block("content-type: text/plain\r\nX: 1\r\nCONTENT-TYPE: text/html\r\n\r\n");
    CHECK(mdcrypt::first_value(h.fields, "Content-Type") == "text/plain");
    CHECK(mdcrypt::count_fields(h.fields, "Content-Type") == 2);
    CHECK_FALSE(mdcrypt::first_value(h.fields, "Subject").has_value());
    CHECK(mdcrypt::count_fields(h.fields, "Subject") == 0);
}
