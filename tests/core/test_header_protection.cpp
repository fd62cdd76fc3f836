#include "core/header_protection.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/header.hpp"

using namespace mdcrypt;

namespace {

std::vector<HeaderField> fields_of(const std::string& header_block) { return parse_header_block(header_block + "\r\n").fields; }

RewriteOptions stripping(std::vector<std::string> names) {
    RewriteOptions o;
    o.strip_fields = std::move(names);
    return o;
}

}  // namespace

TEST_CASE("applies_header_protection reads Content-Type with the shared parser") {
    const RewriteOptions hp;
    for (const std::string value : {"text/plain", "Text / Plain (x) ;", "multipart/mixed; boundary=\"a;b\"",
                                    "text/plain; hpx=1", "text/plain; name=\"hp=cipher\"", "text/plain (hp=x)"}) {
        INFO("Content-Type: " << value);
        CHECK(applies_header_protection(fields_of("Subject: s\r\nContent-Type: " + value + "\r\n"), hp));
    }
    // Values the old tokenizer of pgp_mime accepted and the shared parser does not: a client might read
    // them otherwise and miss the marker, so they are left unmarked.
    std::string many_params = "text/plain";
    for (int i = 0; i <= 64; ++i) many_params += "; p" + std::to_string(i) + "=v";
    for (const std::string& value : std::vector<std::string>{"text/plain; foo", "text/plain x", "text/plain; a=b c", "text/plain; name=a@b",
                                    "text/plain; name=\"a\"b", std::string("text/plain; x=\"a\0b\"", 19), many_params,
                                    // an hp in any form, a lenient reader's hp*x included
                                    "text/plain; hp=cipher", "text/plain; hp*=''cipher", "text/plain; hp*x=1"}) {
        INFO("Content-Type: " << value);
        CHECK_FALSE(applies_header_protection(fields_of("Subject: s\r\nContent-Type: " + value + "\r\n"), hp));
    }
    CHECK(applies_header_protection(fields_of("Subject: s\r\n"), hp));
    RewriteOptions off;
    off.header_protection = false;
    CHECK_FALSE(applies_header_protection(fields_of("Subject: s\r\n"), off));
}

TEST_CASE("with_hp_parameters appends both markers and keeps the sender's bytes") {
    CHECK(with_hp_parameters("Content-Type", " text/plain") == " text/plain; hp=\"cipher\"; protected-headers=\"v1\"");
    CHECK(with_hp_parameters("Content-Type", " text/plain;") == " text/plain; hp=\"cipher\"; protected-headers=\"v1\"");
    CHECK(with_hp_parameters("Content-Type", " text/plain; protected-headers=v2") == " text/plain; protected-headers=v2; hp=\"cipher\"");
    // The field name's length counts on the first line: a longer name folds earlier.
    const std::string value = " text/plain; name=\"" + std::string(5, 'n') + "\"";
    CHECK(with_hp_parameters("Content-Type", value) == value + "; hp=\"cipher\"; protected-headers=\"v1\"");
    CHECK(with_hp_parameters(std::string(30, 'C'), value) == value + "; hp=\"cipher\";\r\n\tprotected-headers=\"v1\"");
    // A folded value: only its last line counts.
    CHECK(with_hp_parameters(std::string(60, 'C'), " text/plain;\r\n charset=utf-8") ==
          " text/plain;\r\n charset=utf-8; hp=\"cipher\"; protected-headers=\"v1\"");
}

TEST_CASE("protected_header_fields: injected fields verbatim, then one HP-Outer record each") {
    const auto fields = fields_of(
        "From: a@b.example\r\n"
        "Subject: lunch\r\n\tplans\r\n"
        "HP-Outer: Subject: forged\r\n"
        "X-Spam: yes\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain\r\n");
    CHECK(protected_header_fields(fields, RewriteOptions{}) ==
          "From: a@b.example\r\n"
          "Subject: lunch\r\n\tplans\r\n"
          "X-Spam: yes\r\n"
          "HP-Outer: From: a@b.example\r\n"
          "HP-Outer: Subject: [...]\r\n"
          "HP-Outer: X-Spam: yes\r\n");
    CHECK(protected_header_fields(fields, stripping({"x-spam", "Content-Type"})) ==
          "From: a@b.example\r\n"
          "Subject: lunch\r\n\tplans\r\n"
          "HP-Outer: From: a@b.example\r\n"
          "HP-Outer: Subject: [...]\r\n");
    CHECK(protected_header_fields(fields_of("Content-Type: text/plain\r\n"), RewriteOptions{}).empty());
}

TEST_CASE("obscured_subject_edits: every Subject, none invented, none when stripped or not protected") {
    const auto two = fields_of("Subject: a\r\nsubject: b\r\n");
    const auto edits = obscured_subject_edits(two, RewriteOptions{});
    REQUIRE(edits.size() == 2);
    for (int i = 0; i < 2; ++i) {
        CHECK(edits[static_cast<std::size_t>(i)].kind == HeaderEdit::Kind::Change);
        CHECK(edits[static_cast<std::size_t>(i)].name == "Subject");
        CHECK(edits[static_cast<std::size_t>(i)].index == i + 1);
        CHECK(edits[static_cast<std::size_t>(i)].raw_value == " [...]");
    }
    CHECK(obscured_subject_edits(fields_of("From: a@b.example\r\n"), RewriteOptions{}).empty());
    CHECK(obscured_subject_edits(two, stripping({"SUBJECT"})).empty());
    CHECK(obscured_subject_edits(fields_of("Subject: a\r\nContent-Type: multipart/signed; boundary=x\r\n"), RewriteOptions{}).empty());
}

TEST_CASE("structural and stripped fields") {
    CHECK(is_structural_field("content-type"));
    CHECK(is_structural_field("Content-Whatever"));
    CHECK(is_structural_field("MIME-VERSION"));
    CHECK_FALSE(is_structural_field("Subject"));
    const RewriteOptions o = stripping({"DKIM-Signature", "Content-Type", "mime-version"});
    CHECK(is_stripped_field(o, "dkim-signature"));
    CHECK_FALSE(is_stripped_field(o, "Content-Type"));  // the rewrite's own, never stripped
    CHECK_FALSE(is_stripped_field(o, "MIME-Version"));
    CHECK_FALSE(is_stripped_field(o, "Subject"));
}
