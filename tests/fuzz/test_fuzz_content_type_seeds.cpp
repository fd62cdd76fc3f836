// The Content-Type fuzz target's invariants over its seeds, in the ordinary build, plus what the seeds
// are for: each reads the way its name says.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/content_type.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::string seed(const std::string& name) {
    std::ifstream in(std::filesystem::path(MDCRYPT_FUZZ_DIR) / "content-type-corpus" / name, std::ios::binary);
    REQUIRE(in);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("every Content-Type seed passes the fuzz target's invariants") {
    int count = 0;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::filesystem::path(MDCRYPT_FUZZ_DIR) / "content-type-corpus")) {
        const std::string input = seed(entry.path().filename().string());
        INFO(entry.path().filename().string());
        CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()) == 0);
        ++count;
    }
    CHECK(count >= 9);
}

TEST_CASE("the Content-Type seeds are what their names say") {
    using mdcrypt::count_mentions;
    using mdcrypt::parse_content_disposition;
    using mdcrypt::parse_content_type;
    CHECK(parse_content_type(seed("text-plain.txt")).param("charset") == "us-ascii");
    CHECK(parse_content_type(seed("multipart-encrypted-folded.txt")).param("boundary") == "mdcrypt.0123456789abcdef_");
    CHECK(parse_content_type(seed("rfc2231-continuations.txt")).param("title") == "This is even more ***fun*** isn't it!");
    CHECK(parse_content_type(seed("comments-and-quotes.txt")).param("name") == "a\"b;c");
    CHECK(parse_content_disposition(seed("disposition-extended-filename.txt")).param("filename") == "smime.p7m");
    CHECK(parse_content_type(seed("hp-marked.txt")).has_param("hp"));
    const std::string mentions = seed("boundary-mentions.txt");
    CHECK(parse_content_type(mentions).param_count("boundary") == 1);
    CHECK(count_mentions(mentions, "boundary") == 3);
    CHECK(parse_content_type(seed("multipart-signed.txt")).subtype == "signed");
    CHECK_FALSE(parse_content_type(seed("unterminated-quote.txt")).valid);
}
