#include "core/edits.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;
using Kind = HeaderEdit::Kind;

TEST_CASE("header edits address the n-th field of a name, case-insensitively", "[edits]") {
    const std::vector<HeaderField> fields{{"A", " 1"}, {"b", " 2"}, {"a", " 3"}, {"C", " 4"}, {"A", " 5"}};
    SECTION("descending deletes leave the other fields in order") {
        const auto out = apply_header_edits(fields, {{Kind::Delete, "A", 3, {}}, {Kind::Delete, "a", 2, {}}});
        REQUIRE(out.size() == 3);
        CHECK(out[0].raw_value == " 1");
        CHECK(out[1].raw_value == " 2");
        CHECK(out[2].raw_value == " 4");
    }
    SECTION("change keeps the position and the original name") {
        const auto out = apply_header_edits(fields, {{Kind::Change, "a", 2, " new"}});
        CHECK(out[2].name == "a");
        CHECK(out[2].raw_value == " new");
        CHECK(out.size() == fields.size());
    }
    SECTION("add appends") {
        const auto out = apply_header_edits(fields, {{Kind::Add, "D", 0, " 6"}});
        CHECK(out.back().name == "D");
        CHECK(out.back().raw_value == " 6");
    }
    SECTION("an edit of a field that does not exist is a bug, not a silent no-op") {
        CHECK_THROWS_AS(apply_header_edits(fields, {{Kind::Delete, "Z", 1, {}}}), std::logic_error);
    }
}
