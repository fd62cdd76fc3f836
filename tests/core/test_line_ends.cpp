#include "core/line_ends.hpp"

#include <catch2/catch.hpp>

using namespace mdcrypt;

namespace {

// Delivers at most `step` bytes per read, to cross chunk edges.
class TrickleSource final : public ByteSource {
public:
    TrickleSource(std::string_view data, std::size_t step) : data_(data), step_(step) {}
    std::size_t read(std::span<char> out) override {
        const std::size_t n = std::min({out.size(), step_, data_.size()});
        std::copy_n(data_.data(), n, out.data());
        data_.remove_prefix(n);
        return n;
    }

private:
    std::string_view data_;
    std::size_t step_;
};

}  // namespace

TEST_CASE("CrlfSource canonicalises bare LF only, across chunk edges", "[line_ends]") {
    const std::string input = "a\nb\r\nc\rd\n\n";
    for (std::size_t step : {1u, 2u, 3u, 100u}) {
        TrickleSource trickle(input, step);
        CrlfSource crlf(trickle);
        CHECK(read_all(crlf) == "a\r\nb\r\nc\rd\r\n\r\n");
    }
}

TEST_CASE("LfSink turns CRLF into LF and keeps bare CR, across writes", "[line_ends]") {
    std::string out;
    StringSink target(out);
    LfSink lf(target);
    lf.write("a\r");
    lf.write("\nb\rc\r");
    lf.write("\r\n");
    lf.write("end\r");
    lf.flush();
    CHECK(out == "a\nb\rc\r\nend\r");
}
