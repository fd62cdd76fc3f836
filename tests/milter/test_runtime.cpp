#include <catch2/catch.hpp>

#include <fstream>
#include <stdexcept>

#include "fakes.hpp"
#include "milter/runtime.hpp"

using namespace mdcrypt;
using namespace mdcrypt::milter;

namespace {

void write_file(const std::filesystem::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

struct Fixture {
    testing::TempDir dir;
    std::filesystem::path main_file = dir.path() / "milter.toml";
    std::filesystem::path policy_file = dir.path() / "domains.toml";
    int crypto_built = 0;
    bool crypto_fails = false;
    std::vector<std::filesystem::path> homes;

    Fixture() {
        write_main("/var/lib/gnupg-a", 2);
        write_file(policy_file, "[domain.\"example.test\"]\nmode = \"opportunistic\"\n");
    }

    void write_main(const std::string& home, int max_encryptions, const std::string& socket = "unix:/tmp/x.sock") {
        write_file(main_file, "[milter]\nsocket = \"" + socket + "\"\nmax_concurrent_encryptions = " +
                                  std::to_string(max_encryptions) + "\n[gnupg]\nhome = \"" + home +
                                  "\"\n[policy]\nfile = \"domains.toml\"\n");
    }

    CryptoFactory factory() {
        return [this](const GnupgSettings& gnupg) -> std::shared_ptr<const CryptoServices> {
            if (crypto_fails) throw std::runtime_error("gpg is broken");
            ++crypto_built;
            homes.push_back(gnupg.home);
            auto services = std::make_shared<CryptoServices>();
            services->lookup = testing::table_lookup({});
            services->encryptor = std::make_shared<testing::FakeEncryptor>();
            return services;
        };
    }

    Runtime make() { return Runtime(load_config(main_file), load_config, factory(), {}); }
};

}  // namespace

TEST_CASE("the first snapshot holds the loaded config and crypto for its GnuPG home") {
    Fixture f;
    Runtime runtime(load_config(f.main_file), load_config, f.factory(), {});
    const auto snapshot = runtime.current();
    CHECK(snapshot->generation == 1);
    CHECK(snapshot->config->policy.domains.count("example.test") == 1);
    CHECK(f.crypto_built == 1);
    CHECK(f.homes.at(0) == "/var/lib/gnupg-a");
    CHECK(runtime.limiter().limit() == 2);
}

TEST_CASE("a reload swaps in the new policy, a pinned snapshot does not change") {
    Fixture f;
    Runtime runtime(load_config(f.main_file), load_config, f.factory(), {});
    const auto pinned = runtime.current();
    write_file(f.policy_file, "[domain.\"example.test\"]\nmode = \"required\"\n[domain.\"example.org\"]\n");
    const auto result = runtime.reload();
    REQUIRE(result.ok);
    const auto now = runtime.current();
    CHECK(now->generation == 2);
    CHECK(now->config->policy.domains.size() == 2);
    CHECK(now->config->policy.domains.at("example.test").mode == Mode::Required);
    CHECK(pinned->generation == 1);
    CHECK(pinned->config->policy.domains.size() == 1);
    CHECK(pinned->config->policy.domains.at("example.test").mode == Mode::Opportunistic);
}

TEST_CASE("a broken policy file is reported with file and line, and the old config stays") {
    Fixture f;
    Runtime runtime(load_config(f.main_file), load_config, f.factory(), {});
    const auto before = runtime.current();
    write_file(f.policy_file, "[domain.\"example.test\"]\nmode = \"sometimes\"\n");
    const auto result = runtime.reload();
    CHECK_FALSE(result.ok);
    CHECK_THAT(result.error, Catch::Contains("domains.toml:2"));
    CHECK_THAT(result.error, Catch::Contains("mode"));
    CHECK(runtime.current() == before);
}

TEST_CASE("a main file with a syntax error or an unknown key keeps the old config") {
    Fixture f;
    Runtime runtime(load_config(f.main_file), load_config, f.factory(), {});
    const auto before = runtime.current();
    write_file(f.main_file, "[milter\nsocket = 1\n");
    auto result = runtime.reload();
    CHECK_FALSE(result.ok);
    CHECK_THAT(result.error, Catch::Contains("milter.toml:1"));
    CHECK(runtime.current() == before);

    write_file(f.main_file, "[milter]\nsockett = \"unix:/x\"\n[policy]\nfile = \"domains.toml\"\n");
    result = runtime.reload();
    CHECK_FALSE(result.ok);
    CHECK_THAT(result.error, Catch::Contains("milter.toml:2"));
    CHECK(runtime.current() == before);

    std::filesystem::remove(f.main_file);
    result = runtime.reload();
    CHECK_FALSE(result.ok);
    CHECK(runtime.current() == before);
}

TEST_CASE("crypto is reused while [gnupg] is unchanged and rebuilt when it changes") {
    Fixture f;
    Runtime runtime(load_config(f.main_file), load_config, f.factory(), {});
    const auto first_crypto = runtime.current()->crypto;
    REQUIRE(runtime.reload().ok);
    CHECK(runtime.current()->crypto == first_crypto);
    CHECK(f.crypto_built == 1);
    f.write_main("/var/lib/gnupg-b", 2);
    REQUIRE(runtime.reload().ok);
    CHECK(runtime.current()->crypto != first_crypto);
    CHECK(f.crypto_built == 2);
    CHECK(f.homes.at(1) == "/var/lib/gnupg-b");
}

TEST_CASE("a GnuPG home that cannot be used keeps the old snapshot") {
    Fixture f;
    Runtime runtime(load_config(f.main_file), load_config, f.factory(), {});
    const auto before = runtime.current();
    f.write_main("/var/lib/gnupg-c", 2);
    f.crypto_fails = true;
    const auto result = runtime.reload();
    CHECK_FALSE(result.ok);
    CHECK_THAT(result.error, Catch::Contains("gpg is broken"));
    CHECK(runtime.current() == before);
}

TEST_CASE("the encryption cap follows a reload, socket changes are reported as needing a restart") {
    Fixture f;
    Runtime runtime(load_config(f.main_file), load_config, f.factory(), {});
    f.write_main("/var/lib/gnupg-a", 5, "unix:/tmp/other.sock");
    const auto result = runtime.reload();
    REQUIRE(result.ok);
    CHECK(runtime.limiter().limit() == 5);
    REQUIRE(result.warnings.size() == 1);
    CHECK_THAT(result.warnings[0], Catch::Contains("milter.socket"));
}

TEST_CASE("a new spool directory is prepared before the reload is accepted") {
    Fixture f;
    std::vector<std::filesystem::path> prepared;
    bool refuse = false;
    Runtime runtime(load_config(f.main_file), load_config, f.factory(), [&](const std::filesystem::path& p) {
        if (refuse) throw std::runtime_error("not private");
        prepared.push_back(p);
    });
    write_file(f.main_file, "[milter]\nsocket = \"unix:/tmp/x.sock\"\nmax_concurrent_encryptions = 2\n"
                            "spool_directory = \"spool2\"\n[gnupg]\nhome = \"/var/lib/gnupg-a\"\n"
                            "[policy]\nfile = \"domains.toml\"\n");
    refuse = true;
    CHECK_FALSE(runtime.reload().ok);
    refuse = false;
    REQUIRE(runtime.reload().ok);
    REQUIRE(prepared.size() == 1);
    CHECK(prepared[0] == f.dir.path() / "spool2");
}
