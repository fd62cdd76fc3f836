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
    CHECK_THAT(text, Catch::Contains("  example.org: required, "));
    CHECK_THAT(text, Catch::Contains("  example.net: off, "));
    CHECK_THAT(describe_config(c, std::nullopt), Catch::Contains("usable keys: unknown\n"));
}

TEST_CASE("the summary lists the key sources in the order they are asked, with their files") {
    Config c;
    c.gnupg.home = "/var/lib/m/gnupg";
    c.gnupg.keys.sources = {KeySource::File, KeySource::Keyring, KeySource::Wkd};
    c.gnupg.keys.file_template = "/var/vmail/%d/%l/.pgp/pubkey.asc";
    c.gnupg.keys.wkd_root = "/srv/openpgpkey";
    const auto text = describe_config(c, 1);
    CHECK_THAT(text, Catch::Contains("key sources, first usable key wins:\n"
                                     "  1. file /var/vmail/%d/%l/.pgp/pubkey.asc\n"
                                     "  2. keyring /var/lib/m/gnupg\n"
                                     "  3. wkd /srv/openpgpkey/<domain>/hu/<hash>\n"));

    c.gnupg.keys.sources = {KeySource::Keyring};  // the default: no file template or WKD root to show
    const auto keyring_only = describe_config(c, 1);
    CHECK_THAT(keyring_only, Catch::Contains("key sources, first usable key wins:\n  1. keyring /var/lib/m/gnupg\n"));
    CHECK_THAT(keyring_only, !Catch::Contains("pubkey.asc") && !Catch::Contains("/srv/openpgpkey"));
}

TEST_CASE("the summary names the local mailers only when some are set") {
    Config c;
    CHECK_THAT(describe_config(c, 0), !Catch::Contains("local mailers"));
    c.milter.local_mailers = {"local", "virtual"};
    CHECK_THAT(describe_config(c, 0), Catch::Contains("local mailers: local, virtual\n"));
}

TEST_CASE("the summary shows split and refusal for the default, every domain and every recipient entry") {
    Config c;
    c.policy.defaults = DomainPolicy{Mode::Opportunistic};
    DomainPolicy lab{Mode::Required};
    lab.split = Split::PerRecipient;
    lab.refusal = Refusal::Temporary;
    c.policy.domains["lab.example.org"] = lab;
    c.policy.domains["example.org"] = DomainPolicy{Mode::Opportunistic};
    DomainPolicy boss{Mode::Required};
    boss.split = Split::PerRecipient;
    c.policy.recipients["boss@example.org"] = boss;
    const auto text = describe_config(c, 0);
    CHECK_THAT(text, Catch::Contains("default mode for listed domains: opportunistic, split per-class, refusal permanent (550 5.7.1)\n"));
    CHECK_THAT(text, Catch::Contains("local domains: 2\n"));
    CHECK_THAT(text, Catch::Contains("  example.org: opportunistic, split per-class, refusal permanent (550 5.7.1)\n"));
    CHECK_THAT(text, Catch::Contains("  lab.example.org: required, split per-recipient, refusal temporary (450 4.7.1)\n"));
    CHECK_THAT(text, Catch::Contains("recipient entries: 1\n"
                                     "  boss@example.org: required, split per-recipient, refusal permanent (550 5.7.1)\n"));
    c.policy.recipients.clear();
    CHECK_THAT(describe_config(c, 0), Catch::Contains("recipient entries: 0\n"));
}

TEST_CASE("a GnuPG home without no-random-seed-file in gpg.conf gets one line of advice") {
    testing::TempDir home;
    std::ofstream(home.path() / "mdcrypt-expected-keys") << "";
    CHECK(gnupg_home_advice(home.path()).size() == 1);  // no gpg.conf at all
    std::ofstream(home.path() / "gpg.conf") << "# no-random-seed-file\nkeyid-format long\n";
    REQUIRE(gnupg_home_advice(home.path()).size() == 1);
    CHECK_THAT(gnupg_home_advice(home.path())[0], Catch::Contains("no-random-seed-file"));
    std::ofstream(home.path() / "gpg.conf", std::ios::app) << "  no-random-seed-file  \n";
    CHECK(gnupg_home_advice(home.path()).empty());
}

TEST_CASE("a GnuPG home without mdcrypt-expected-keys is told to record its keys") {
    testing::TempDir home;
    std::ofstream(home.path() / "gpg.conf") << "no-random-seed-file\n";
    const auto advice = gnupg_home_advice(home.path());
    REQUIRE(advice.size() == 1);
    CHECK_THAT(advice[0], Catch::Contains("mdcrypt-expected-keys") && Catch::Contains("mdcrypt-keys record"));
}

TEST_CASE("the summary shows the ldap source's servers, TLS, bind DN and search, never the password file's content") {
    Config c;
    c.gnupg.keys.sources = {KeySource::Ldap};
    c.gnupg.keys.ldap.uris = {"ldap://ldap1.example.org", "ldap://ldap2.example.org"};
    c.gnupg.keys.ldap.bind_dn = "cn=mdcrypt,dc=example,dc=org";
    c.gnupg.keys.ldap.bind_password_file = "/etc/m/ldap.secret";
    c.gnupg.keys.ldap.base = "ou=people,dc=example,dc=org";
    CHECK_THAT(describe_config(c, 1),
               Catch::Contains("  1. ldap ldap://ldap1.example.org ldap://ldap2.example.org (tls starttls, bind "
                               "cn=mdcrypt,dc=example,dc=org, base ou=people,dc=example,dc=org, filter (mail=%s), "
                               "attribute openPGPPublicKey, cache 300 s)\n"));
    c.gnupg.keys.ldap.bind_dn.clear();
    CHECK_THAT(describe_config(c, 1), Catch::Contains("bind anonymous"));
}
