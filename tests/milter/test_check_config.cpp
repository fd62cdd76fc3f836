#include <catch2/catch.hpp>

#include <fstream>

#include "fakes.hpp"
#include "milter/check_config.hpp"

using namespace mdcrypt;
using namespace mdcrypt::milter;

TEST_CASE("the summary lists the local domains with their modes and the usable keys") {
    Config c;
    c.file = "/etc/m/m.toml";
    c.policy_file = "/etc/m/domains.toml";
    c.policy.defaults.mode = Mode::Opportunistic;
    c.policy.domains["example.org"] = DomainPolicy{Mode::Required};
    c.policy.domains["example.net"] = DomainPolicy{Mode::Off};
    const auto text = describe_config(c, 3);
    CHECK_THAT(text, Catch::Contains("configuration: /etc/m/m.toml\n"));
    CHECK_THAT(text, Catch::Contains("policy: /etc/m/domains.toml\n"));
    CHECK_THAT(text, Catch::Contains("usable keys: 3\n"));
    CHECK_THAT(text, Catch::Contains("local domains: 2\n"));
    CHECK_THAT(text, Catch::Contains("  example.org: required\n"));
    CHECK_THAT(text, Catch::Contains("  example.net: off\n"));
    CHECK_THAT(describe_config(c, std::nullopt), Catch::Contains("usable keys: unknown\n"));
}

TEST_CASE("a GnuPG home without no-random-seed-file in gpg.conf gets one line of advice") {
    testing::TempDir home;
    CHECK(gnupg_home_advice(home.path()).size() == 1);  // no gpg.conf at all
    std::ofstream(home.path() / "gpg.conf") << "# no-random-seed-file\nkeyid-format long\n";
    REQUIRE(gnupg_home_advice(home.path()).size() == 1);
    CHECK_THAT(gnupg_home_advice(home.path())[0], Catch::Contains("no-random-seed-file"));
    std::ofstream(home.path() / "gpg.conf", std::ios::app) << "  no-random-seed-file  \n";
    CHECK(gnupg_home_advice(home.path()).empty());
}
