// Runs the fuzz target's checks, in the ordinary sanitizer build, over every input the fuzzer ever had
// to keep (tests/fuzz/regressions/) and over the seed corpus, so a fixed bug stays fixed without clang.
// A violated invariant aborts the test binary, which ctest reports as a failure.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace fs = std::filesystem;

namespace {

int run_directory(const fs::path& dir) {
    int count = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file() || entry.path().filename().string().front() == '.') continue;
        std::ifstream in(entry.path(), std::ios::binary);
        REQUIRE(in);
        std::ostringstream s;
        s << in.rdbuf();
        const std::string input = s.str();
        INFO(entry.path().filename().string());
        CHECK(LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(input.data()), input.size()) == 0);
        ++count;
    }
    return count;
}

}  // namespace

TEST_CASE("inputs the fuzzer found keep passing its invariants", "[fuzz]") {
    CHECK(run_directory(fs::path(MDCRYPT_FUZZ_DIR) / "regressions") >= 1);
}

TEST_CASE("the seed corpus passes the fuzzer's invariants", "[fuzz]") {
    CHECK(run_directory(fs::path(MDCRYPT_FUZZ_DIR) / "corpus") >= 40);
}

TEST_CASE("an empty input is refused, not delivered", "[fuzz]") {
    CHECK(LLVMFuzzerTestOneInput(nullptr, 0) == 0);
}
