#include "core/spool.hpp"

#include <catch2/catch.hpp>

#include "temp_dir.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

using namespace mdcrypt;
namespace fs = std::filesystem;

TEST_CASE("small bodies stay in memory, large ones spill to an unnamed file", "[spool]") {
    mdcrypt::testing::TempDir dir;
    const fs::path spool_dir = dir.path() / "spool";
    prepare_private_directory(spool_dir);
    struct stat st{};
    REQUIRE(::stat(spool_dir.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);

    Spool small({spool_dir, 1024});
    small.write("hello");
    CHECK_FALSE(small.on_disk());
    CHECK(read_all(*small.reader()) == "hello");

    Spool big({spool_dir, 1024});
    std::string expected;
    for (int i = 0; i < 100; ++i) {
        const std::string chunk(37, static_cast<char>('a' + i % 26));
        big.write(chunk);
        expected += chunk;
    }
    CHECK(big.on_disk());
    CHECK(big.size() == expected.size());
    CHECK(read_all(*big.reader()) == expected);
    CHECK(read_all(*big.reader()) == expected);  // readable more than once
    // Nothing with a name is left in the directory, even while the spool is alive.
    CHECK(fs::is_empty(spool_dir));
}

TEST_CASE("a spool directory that is not private is made private, a file there is refused", "[spool]") {
    mdcrypt::testing::TempDir dir;
    const fs::path open_dir = dir.path() / "open";
    fs::create_directory(open_dir);
    fs::permissions(open_dir, fs::perms::all);
    prepare_private_directory(open_dir);
    CHECK((fs::status(open_dir).permissions() & fs::perms::all) == fs::perms::owner_all);

    const fs::path file = dir.path() / "file";
    { std::FILE* f = std::fopen(file.c_str(), "w"); REQUIRE(f); std::fclose(f); }
    CHECK_THROWS_WITH(prepare_private_directory(file), Catch::Contains(file.string()));
}

TEST_CASE("a body stays in memory up to exactly the limit and spills one byte past it", "[spool]") {
    Spool spool({fs::temp_directory_path(), 1 << 20});
    const std::string chunk(65535, 'x');
    while (spool.size() + chunk.size() <= (1u << 20)) spool.write(chunk);
    CHECK_FALSE(spool.on_disk());
    const std::uint64_t room = (1u << 20) - spool.size();
    spool.write(std::string(room, 'y'));
    CHECK_FALSE(spool.on_disk());
    spool.write("z");
    CHECK(spool.on_disk());
    CHECK(spool.size() == (1u << 20) + 1);
}
