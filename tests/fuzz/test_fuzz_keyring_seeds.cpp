// The keyring fuzz target's invariants over its seeds, in the ordinary sanitizer build, plus what the
// seeds are for: the real keybox and legacy keyring read with their keys, the damaged ones refused.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/keyring_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

std::string seed(const std::string& name) {
    std::ifstream in(std::filesystem::path(MDCRYPT_FUZZ_DIR) / "keyring-corpus" / name, std::ios::binary);
    REQUIRE(in);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

TEST_CASE("every keyring seed passes the fuzz target's invariants") {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(MDCRYPT_FUZZ_DIR) / "keyring-corpus")) {
        const std::string input = seed(entry.path().filename().string());
        INFO(entry.path().filename().string());
        CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()) == 0);
        ++count;
    }
    CHECK(count >= 5);
}

TEST_CASE("the keyring seeds are what their names say") {
    CHECK(mdcrypt::read_keybox(seed("kbx-two-keys.kbx")).fingerprints.size() == 2);
    CHECK(mdcrypt::read_keybox(seed("kbx-header-only.kbx")).ok());
    CHECK_FALSE(mdcrypt::read_keybox(seed("kbx-long-blob.kbx")).ok());
    CHECK_FALSE(mdcrypt::read_keybox(seed("kbx-truncated.kbx")).ok());
    CHECK(mdcrypt::read_legacy_keyring(seed("legacy-two-keys.gpg")).fingerprints.size() == 2);
}
