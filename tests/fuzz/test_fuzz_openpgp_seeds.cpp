// The OpenPGP readers' fuzz target over its seeds, in the ordinary build, plus what the seeds are for:
// each reads the way its name says.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/openpgp_keys.hpp"
#include "core/openpgp_message_check.hpp"
#include "core/openpgp_packets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

const std::filesystem::path kSeeds = std::filesystem::path(MDCRYPT_FUZZ_DIR) / "openpgp-corpus";

std::string seed(const std::string& name) {
    std::ifstream in(kSeeds / name, std::ios::binary);
    REQUIRE(in);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::optional<std::string> output_check(const std::string& text) {
    mdcrypt::ArmoredMessageCheck check;
    check.feed(text);
    return check.finish();
}

}  // namespace

TEST_CASE("every OpenPGP seed passes the fuzz target's invariants") {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(kSeeds)) {
        const std::string input = seed(entry.path().filename().string());
        INFO(entry.path().filename().string());
        CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()) == 0);
        ++count;
    }
    CHECK(count >= 5);
}

TEST_CASE("the OpenPGP seeds are what their names say") {
    CHECK_FALSE(output_check(seed("message.asc")));
    CHECK(output_check(seed("message-cut.asc")));
    CHECK(mdcrypt::split_public_keys(seed("public-key-block.asc")).keys.size() == 1);
    CHECK(mdcrypt::split_public_keys(seed("key-no-blank-line.asc")).keys.size() == 1);
    const auto first = mdcrypt::read_packet_header(seed("message.bin"), 0);
    REQUIRE(first.status == mdcrypt::PacketHeaderRead::Status::Ok);
    CHECK(first.header.tag == 1);  // a public-key encrypted session key
}
