#include "core/config.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "test_files.hpp"

namespace fs = std::filesystem;
using Catch::Contains;
using Catch::StartsWith;
using mdcrypt::ConfigError;
using mdcrypt::Mode;

namespace {

// A private directory for one test's files, removed with everything in it at the end.
using mdcrypt::testing::TempDir;

template <class F>
std::string config_error(F&& load) {
    try {
        load();
    } catch (const ConfigError& e) {
        return e.what();
    }
    FAIL("no ConfigError was thrown");
    return {};
}

const std::string kPolicy = "[default]\nmode = \"opportunistic\"\n[domain.\"example.org\"]\nmode = \"required\"\n";

// Loads tmp/main.toml with a valid domains.toml next to it, expecting an error.
std::string main_error(const TempDir& tmp, const std::string& main_text) {
    tmp.write("domains.toml", kPolicy);
    const fs::path main = tmp.write("main.toml", main_text);
    return config_error([&] { mdcrypt::load_config(main); });
}

// Loads tmp/domains.toml on its own, expecting an error.
std::string policy_error(const TempDir& tmp, const std::string& policy_text) {
    const fs::path policy = tmp.write("domains.toml", policy_text);
    return config_error([&] { mdcrypt::load_policy(policy); });
}

}  // namespace

TEST_CASE("the example policy file loads with the modes it documents") {
    const auto policy = mdcrypt::load_policy(fs::path(MDCRYPT_SOURCE_DIR) / "conf/domains.toml");
    CHECK(policy.defaults.mode == Mode::Opportunistic);
    CHECK(policy.for_domain("example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("lists.example.org")->mode == Mode::Opportunistic);
    CHECK(policy.for_domain("support.example.net")->mode == Mode::Off);
    CHECK_FALSE(policy.for_domain("example.com"));
    CHECK(policy.defaults.header_protection);
    CHECK(policy.for_domain("example.org")->header_protection);
    CHECK(policy.strip_fields_when_encrypted.empty());
}

TEST_CASE("the example main file loads with every value it sets") {
    // Its policy file is named relative to it: conf/domains.toml here, /etc/mdcrypt-milter/domains.toml
    // where it is installed.
    const auto config = mdcrypt::load_config(fs::path(MDCRYPT_SOURCE_DIR) / "conf/mdcrypt-milter.toml");

    const auto& m = config->milter;
    // Inside Debian Postfix's chroot, as conf/postfix-main.cf names it; group mdcrypt-milter has postfix.
    CHECK(m.socket == "unix:/var/spool/postfix/mdcrypt-milter/mdcrypt-milter.sock");
    CHECK(m.socket_mode == 0660u);
    CHECK(m.socket_group == "mdcrypt-milter");
    CHECK(m.user == "mdcrypt-milter");
    CHECK(m.group == "mdcrypt-milter");
    CHECK(m.max_concurrent_encryptions == 0);
    CHECK(m.max_message_size == 50u << 20);
    CHECK(m.body_memory_limit == 1u << 20);
    CHECK(m.spool_directory == "/var/spool/mdcrypt-milter");
    CHECK(m.timeout_seconds == 600);
    CHECK(m.stop_timeout_seconds == 30);
    CHECK_FALSE(m.log_verbose);
    CHECK(config->gnupg.timeout_seconds == 120);
    CHECK(config->gnupg.home == "/var/lib/mdcrypt-milter/gnupg");
    CHECK(config->gnupg.trust_model == mdcrypt::TrustModel::ServerKeyring);
    CHECK(config->gnupg.gpg_program.empty());
    CHECK(config->policy.for_domain("example.org")->mode == Mode::Required);
}

TEST_CASE("the example main file names the policy file next to it, wherever it is installed") {
    const fs::path conf = fs::path(MDCRYPT_SOURCE_DIR) / "conf";
    CHECK(mdcrypt::load_config(conf / "mdcrypt-milter.toml")->policy_file == conf / "domains.toml");
    // And agrees with the Postfix example about the socket (relative to Postfix's queue directory).
    const std::string postfix = mdcrypt::testing::read_file(conf / "postfix-main.cf");
    CHECK_THAT(postfix, Catch::Contains("\nsmtpd_milters = unix:mdcrypt-milter/mdcrypt-milter.sock\n"));
}

TEST_CASE("socket, gnupg home and policy file alone make a configuration, the rest has defaults") {
    TempDir tmp;
    tmp.write("domains.toml", kPolicy);
    const fs::path main = tmp.write("main.toml",
                                    "[milter]\nsocket = \"inet:10025@127.0.0.1\"\n"
                                    "[gnupg]\nhome = \"/srv/gnupg\"\n"
                                    "[policy]\nfile = \"domains.toml\"\n");
    const auto config = mdcrypt::load_config(main);
    CHECK(config->file == main);
    CHECK(config->milter.socket == "inet:10025@127.0.0.1");
    CHECK(config->gnupg.home == "/srv/gnupg");
    CHECK(config->policy_file == tmp.path() / "domains.toml");
    CHECK(config->policy.for_domain("example.org")->mode == Mode::Required);

    CHECK_FALSE(config->milter.socket_mode);
    CHECK(config->milter.socket_group.empty());
    CHECK(config->milter.user.empty());
    CHECK(config->milter.group.empty());
    CHECK(config->milter.max_connections == 512);
    CHECK(config->milter.max_concurrent_encryptions == 0);
    CHECK(config->milter.max_message_size == 0);
    CHECK(config->milter.body_memory_limit == 1u << 20);
    CHECK(config->milter.spool_directory == "/var/spool/mdcrypt-milter");
    CHECK(config->milter.timeout_seconds == 600);
    CHECK(config->milter.stop_timeout_seconds == 30);
    CHECK_FALSE(config->milter.log_verbose);
    CHECK(config->gnupg.timeout_seconds == 120);
    CHECK(config->gnupg.backend == mdcrypt::EngineBackend::Gpgme);
    CHECK(config->metrics.listen.empty());
    CHECK(config->gnupg.trust_model == mdcrypt::TrustModel::ServerKeyring);
    CHECK(config->gnupg.gpg_program.empty());
}

TEST_CASE("relative paths are relative to the main file's directory") {
    TempDir tmp;
    tmp.write("etc/policy/domains.toml", kPolicy);
    const fs::path main = tmp.write("etc/main.toml",
                                    "[milter]\nspool_directory = \"../spool\"\n"
                                    "[gnupg]\nhome = \"gnupg\"\ngpg_program = \"bin/gpg\"\n"
                                    "[policy]\nfile = \"policy/domains.toml\"\n");
    const auto config = mdcrypt::load_config(main);
    CHECK(config->milter.spool_directory == tmp.path() / "spool");
    CHECK(config->gnupg.home == tmp.path() / "etc/gnupg");
    CHECK(config->gnupg.gpg_program == tmp.path() / "etc/bin/gpg");
    CHECK(config->policy_file == tmp.path() / "etc/policy/domains.toml");
}

TEST_CASE("engine.backend chooses gpgme or rnp") {
    TempDir tmp;
    tmp.write("domains.toml", kPolicy);
    const fs::path main = tmp.write("main.toml", "[policy]\nfile = \"domains.toml\"\n[engine]\nbackend = \"rnp\"\n");
    CHECK(mdcrypt::load_config(main)->gnupg.backend == mdcrypt::EngineBackend::Rnp);
    tmp.write("main.toml", "[policy]\nfile = \"domains.toml\"\n[engine]\nbackend = \"gpgme\"\n");
    CHECK(mdcrypt::load_config(main)->gnupg.backend == mdcrypt::EngineBackend::Gpgme);
}

TEST_CASE("sizes are bytes or a number with a binary K, M or G suffix") {
    TempDir tmp;
    tmp.write("domains.toml", kPolicy);
    auto load = [&](const std::string& value) {
        return mdcrypt::load_config(tmp.write("main.toml", "[milter]\nmax_message_size = " + value +
                                                               "\nbody_memory_limit = " + value +
                                                               "\n[policy]\nfile = \"domains.toml\"\n"));
    };
    CHECK(load("123456")->milter.max_message_size == 123456);
    CHECK(load("\"123456\"")->milter.max_message_size == 123456);
    CHECK(load("\"512K\"")->milter.max_message_size == 512u * 1024);
    CHECK(load("\"50M\"")->milter.max_message_size == 50u * 1024 * 1024);
    CHECK(load("\"2G\"")->milter.max_message_size == 2ull * 1024 * 1024 * 1024);
    CHECK(load("\"2g\"")->milter.body_memory_limit == 2ull * 1024 * 1024 * 1024);
    CHECK(load("0")->milter.max_message_size == 0);
}

TEST_CASE("socket_mode is read as octal, with or without the leading zero") {
    TempDir tmp;
    tmp.write("domains.toml", kPolicy);
    auto load = [&](const std::string& mode) {
        return mdcrypt::load_config(
            tmp.write("main.toml", "[milter]\nsocket_mode = \"" + mode + "\"\n[policy]\nfile = \"domains.toml\"\n"));
    };
    CHECK(load("0660")->milter.socket_mode == 0660u);
    CHECK(load("660")->milter.socket_mode == 0660u);
    CHECK(load("2770")->milter.socket_mode == 02770u);
}

TEST_CASE("a syntax error names the file, line and column") {
    TempDir tmp;
    const std::string msg = main_error(tmp, "[milter]\nsocket = \"unix:/run/x.sock\n[policy]\nfile = \"domains.toml\"\n");
    REQUIRE_THAT(msg, StartsWith((tmp.path() / "main.toml").string() + ":2:"));
}

TEST_CASE("an unknown key is named with its position and the key it was probably meant to be") {
    TempDir tmp;
    SECTION("a typo suggests the nearest key") {
        const std::string msg = main_error(tmp, "[milter]\nsocket = \"unix:/x\"\nsockte_mode = \"0660\"\n"
                                                "[policy]\nfile = \"domains.toml\"\n");
        REQUIRE_THAT(msg, Contains("main.toml:3:1: key 'milter.sockte_mode': unknown key"));
        REQUIRE_THAT(msg, Contains("did you mean 'milter.socket_mode'?"));
    }
    SECTION("an unknown table") {
        const std::string msg = main_error(tmp, "[policy]\nfile = \"domains.toml\"\n[gpg]\nhome = \"/x\"\n");
        REQUIRE_THAT(msg, Contains("main.toml:3:2: key 'gpg': unknown key; did you mean 'gnupg'?"));
    }
    SECTION("with no near key, the valid keys are listed") {
        const std::string msg = main_error(tmp, "[policy]\nfile = \"domains.toml\"\n[gnupg]\nkeyserver = \"x\"\n");
        REQUIRE_THAT(msg, Contains("main.toml:4:1: key 'gnupg.keyserver': unknown key; "
                                   "valid keys here: 'home', 'trust_model', 'gpg_program'"));
    }
    SECTION("a shortened key suggests the full one") {
        const std::string msg = main_error(tmp, "[milter]\nspool_dir = \"/srv/spool\"\n"
                                                "[policy]\nfile = \"domains.toml\"\n");
        REQUIRE_THAT(msg, Contains("main.toml:2:1: key 'milter.spool_dir': unknown key; "
                                   "did you mean 'milter.spool_directory'?"));
    }
    SECTION("in the policy file") {
        const std::string msg = policy_error(tmp, "[default]\nmode = \"off\"\n[domain.\"example.org\"]\nmdoe = \"off\"\n");
        REQUIRE_THAT(msg, Contains("domains.toml:4:1: key 'domain.\"example.org\".mdoe': unknown key; "
                                   "did you mean 'domain.\"example.org\".mode'?"));
    }
}

TEST_CASE("a value of the wrong type names the expected and the actual type") {
    TempDir tmp;
    const std::string policy = "[policy]\nfile = \"domains.toml\"\n";
    CHECK_THAT(main_error(tmp, policy + "[milter]\ntimeout_seconds = \"600\"\n"),
               Contains("main.toml:4:19: key 'milter.timeout_seconds': expected an integer, got a string"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nlog_verbose = \"yes\"\n"),
               Contains("main.toml:4:15: key 'milter.log_verbose': expected a boolean, got a string"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nmax_concurrent_encryptions = 2.5\n"),
               Contains("main.toml:4:30: key 'milter.max_concurrent_encryptions': expected an integer, "
                        "got a floating-point number"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nsocket_mode = 660\n"),
               Contains("main.toml:4:15: key 'milter.socket_mode': expected a string of octal digits like "
                        "\"0660\", got an integer"));
    CHECK_THAT(main_error(tmp, "milter = \"unix:/x\"\n" + policy),
               Contains("main.toml:1:10: key 'milter': expected a table, got a string"));
    CHECK_THAT(policy_error(tmp, "[domain]\n\"example.org\" = \"required\"\n"),
               Contains("domains.toml:2:17: key 'domain.\"example.org\"': expected a table, got a string"));
}

TEST_CASE("bad values say what is wrong and what is allowed") {
    TempDir tmp;
    const std::string policy = "[policy]\nfile = \"domains.toml\"\n";
    CHECK_THAT(main_error(tmp, policy + "[milter]\nsocket = \"/run/x.sock\"\n"),
               Contains("main.toml:4:10: key 'milter.socket': '/run/x.sock' must start with unix:, local:, inet: "
                        "or inet6:"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nsocket = \"unix:\"\n"), Contains("main.toml:4:10: key 'milter.socket'"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nsocket_mode = \"0680\"\n"),
               Contains("main.toml:4:15: key 'milter.socket_mode': bad socket mode '0680'"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nsocket_mode = \"66\"\n"),
               Contains("main.toml:4:15: key 'milter.socket_mode': bad socket mode '66'"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nsocket_mode = \"00660\"\n"),
               Contains("main.toml:4:15: key 'milter.socket_mode': bad socket mode '00660'"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nsocket_mode = \"rw-rw----\"\n"),
               Contains("main.toml:4:15: key 'milter.socket_mode': bad socket mode"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nmax_message_size = \"50MB\"\n"),
               Contains("main.toml:4:20: key 'milter.max_message_size': bad size '50MB'"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nbody_memory_limit = \"M\"\n"),
               Contains("main.toml:4:21: key 'milter.body_memory_limit': bad size 'M'"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nmax_message_size = \"99999999999G\"\n"),
               Contains("key 'milter.max_message_size': bad size '99999999999G'"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nmax_message_size = -1\n"),
               Contains("main.toml:4:20: key 'milter.max_message_size': must be between 0 and"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nmax_connections = 0\n"),
               Contains("main.toml:4:19: key 'milter.max_connections': must be between 1 and"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nmax_connections = \"512\"\n"),
               Contains("main.toml:4:19: key 'milter.max_connections': "));
    CHECK_THAT(main_error(tmp, policy + "[milter]\ntimeout_seconds = 0\n"),
               Contains("main.toml:4:19: key 'milter.timeout_seconds': must be between 1 and"));
    CHECK_THAT(main_error(tmp, policy + "[milter]\nstop_timeout_seconds = -1\n"),
               Contains("main.toml:4:24: key 'milter.stop_timeout_seconds': must be between 0 and"));
    CHECK_THAT(main_error(tmp, policy + "[metrics]\nlisten = \"9465\"\n"),
               Contains("main.toml:4:10: key 'metrics.listen': '9465' is not HOST:PORT"));
    CHECK_THAT(main_error(tmp, policy + "[metrics]\nlisten = \"127.0.0.1:70000\"\n"),
               Contains("key 'metrics.listen': '127.0.0.1:70000' is not HOST:PORT"));
    CHECK_THAT(main_error(tmp, policy + "[metrics]\nlisten = \"::1:9465\"\n"),
               Contains("is not HOST:PORT (like \"127.0.0.1:9465\" or \"[::1]:9465\")"));
    CHECK_THAT(main_error(tmp, policy + "[engine]\nbackend = \"openpgp\"\n"),
               Contains("main.toml:4:11: key 'engine.backend': unknown engine backend 'openpgp'; valid: gpgme, rnp"));
    CHECK_THAT(main_error(tmp, policy + "[gnupg]\ntimeout_seconds = 0\n"),
               Contains("main.toml:4:19: key 'gnupg.timeout_seconds': must be between 1 and"));
    CHECK_THAT(main_error(tmp, policy + "[gnupg]\ntrust_model = \"always\"\n"),
               Contains("main.toml:4:15: key 'gnupg.trust_model': unknown trust model 'always'; "
                        "valid: server-keyring, gnupg"));
    CHECK_THAT(main_error(tmp, policy + "[gnupg]\nhome = \"\"\n"),
               Contains("main.toml:4:8: key 'gnupg.home': must not be empty"));
    CHECK_THAT(policy_error(tmp, "[default]\nmode = \"opportunistic\"\n[domain.\"example.org\"]\nmode = \"encrypt\"\n"),
               Contains("domains.toml:4:8: key 'domain.\"example.org\".mode': unknown mode 'encrypt'; "
                        "valid modes: off, opportunistic, required"));
    CHECK_THAT(policy_error(tmp, "[default]\nmode = \"Required\"\n"),
               Contains("domains.toml:2:8: key 'default.mode': unknown mode 'Required'"));
}

TEST_CASE("domain names are validated where they are written") {
    TempDir tmp;
    for (const std::string bad : {"exa mple.org", "example..org", ".example.org", "example.org.", "*", "*.",
                                  "mail.*.example.org", "user@example.org", ""}) {
        INFO(bad);
        const std::string msg = policy_error(tmp, "[default]\nmode = \"off\"\n[domain.\"" + bad + "\"]\n");
        CHECK_THAT(msg, Contains("domains.toml:3:9: key 'domain.\"" + bad + "\"': bad domain name"));
    }
}

TEST_CASE("a domain listed twice, differing only in case, is an error") {
    TempDir tmp;
    const std::string msg = policy_error(tmp, "[domain.\"example.org\"]\nmode = \"off\"\n"
                                              "[domain.\"Example.ORG\"]\nmode = \"required\"\n");
    REQUIRE_THAT(msg, Contains("domains.toml:3:9: key 'domain.\"Example.ORG\"': duplicate domain: "
                               "same as 'example.org' on line 1"));
}

TEST_CASE("a missing policy file key is an error at the [policy] table or at line 1") {
    TempDir tmp;
    CHECK_THAT(main_error(tmp, "[milter]\nsocket = \"unix:/x\"\n"),
               Contains("main.toml:1:1: key 'policy.file': missing required key"));
    CHECK_THAT(main_error(tmp, "[milter]\nsocket = \"unix:/x\"\n\n[policy]\n"),
               Contains("main.toml:4:1: key 'policy.file': missing required key"));
}

TEST_CASE("an unreadable file is named with the reason") {
    TempDir tmp;
    const fs::path missing = tmp.path() / "missing.toml";
    CHECK(config_error([&] { mdcrypt::load_config(missing); }) ==
          "cannot read " + missing.string() + ": No such file or directory");
    CHECK(config_error([&] { mdcrypt::load_config(tmp.path()); }) == "cannot read " + tmp.path().string() + ": is a directory");
    // The main file is fine; the error is about the policy file it names.
    const fs::path main = tmp.write("main.toml", "[policy]\nfile = \"nowhere.toml\"\n");
    CHECK(config_error([&] { mdcrypt::load_config(main); }) ==
          "cannot read " + (tmp.path() / "nowhere.toml").string() + ": No such file or directory");
}

TEST_CASE("errors in the policy file name the policy file, not the main file") {
    TempDir tmp;
    tmp.write("domains.toml", "[default]\nmode = \"opportunistic\"\n[domain.\"example.org\"]\nmode = \"sometimes\"\n");
    const fs::path main = tmp.write("main.toml", "[policy]\nfile = \"domains.toml\"\n");
    const std::string msg = config_error([&] { mdcrypt::load_config(main); });
    REQUIRE_THAT(msg, StartsWith((tmp.path() / "domains.toml").string() + ":4:8: key 'domain.\"example.org\".mode'"));

    tmp.write("domains.toml", "[default]\nmode = \"off\n");
    REQUIRE_THAT(config_error([&] { mdcrypt::load_config(main); }),
                 StartsWith((tmp.path() / "domains.toml").string() + ":2:"));
}

TEST_CASE("a domain without a mode inherits [default], wherever [default] is in the file") {
    TempDir tmp;
    const auto policy = mdcrypt::load_policy(tmp.write("domains.toml",
                                                       "[domain.\"inherits.example\"]\n"
                                                       "[domain.\"own.example\"]\nmode = \"off\"\n"
                                                       "[default]\nmode = \"required\"\n"));
    CHECK(policy.for_domain("inherits.example")->mode == Mode::Required);
    CHECK(policy.for_domain("own.example")->mode == Mode::Off);

    const auto no_default = mdcrypt::load_policy(tmp.write("domains.toml", "[domain.\"example.org\"]\n"));
    CHECK(no_default.for_domain("example.org")->mode == Mode::Opportunistic);
}

TEST_CASE("domains from the policy file match case-insensitively, wildcards only subdomains") {
    TempDir tmp;
    const auto policy = mdcrypt::load_policy(tmp.write("domains.toml",
                                                       "[default]\nmode = \"off\"\n"
                                                       "[domain.\"*.Example.ORG\"]\nmode = \"required\"\n"
                                                       "[domain.\"Mail.Example.NET\"]\nmode = \"opportunistic\"\n"));
    CHECK(policy.domains.count("*.example.org") == 1);
    CHECK(policy.domains.count("mail.example.net") == 1);
    CHECK(policy.for_domain("lists.example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("LISTS.EXAMPLE.ORG")->mode == Mode::Required);
    CHECK_FALSE(policy.for_domain("example.org"));
    CHECK(policy.for_domain("mail.example.net")->mode == Mode::Opportunistic);
}

TEST_CASE("header_protection is a boolean per domain, true by default, inherited from [default]") {
    TempDir tmp;
    const auto policy = mdcrypt::load_policy(tmp.write("domains.toml",
                                                       "[default]\nheader_protection = false\n"
                                                       "[domain.\"inherits.example\"]\n"
                                                       "[domain.\"own.example\"]\nheader_protection = true\n"));
    CHECK_FALSE(policy.defaults.header_protection);
    CHECK_FALSE(policy.for_domain("inherits.example")->header_protection);
    CHECK(policy.for_domain("own.example")->header_protection);

    const auto unset = mdcrypt::load_policy(tmp.write("domains.toml", "[domain.\"example.org\"]\n"));
    CHECK(unset.defaults.header_protection);
    CHECK(unset.for_domain("example.org")->header_protection);

    CHECK_THAT(policy_error(tmp, "[default]\nmode = \"off\"\nheader_protection = \"yes\"\n"),
               Contains("domains.toml:3:21: key 'default.header_protection': expected a boolean, got a string"));
    CHECK_THAT(policy_error(tmp, "[domain.\"example.org\"]\nheader_protection = 1\n"),
               Contains("domains.toml:2:21: key 'domain.\"example.org\".header_protection': expected a boolean, "
                        "got an integer"));
    CHECK_THAT(policy_error(tmp, "[default]\nheader_protect = true\n"),
               Contains("domains.toml:2:1: key 'default.header_protect': unknown key; "
                        "did you mean 'default.header_protection'?"));
}

TEST_CASE("strip_fields_when_encrypted lists header field names, empty by default") {
    TempDir tmp;
    const auto policy = mdcrypt::load_policy(tmp.write(
        "domains.toml", "strip_fields_when_encrypted = [\"DKIM-Signature\", \"ARC-Seal\"]\n[default]\nmode = \"off\"\n"));
    CHECK(policy.strip_fields_when_encrypted == std::vector<std::string>{"DKIM-Signature", "ARC-Seal"});
    CHECK(mdcrypt::load_policy(tmp.write("domains.toml", "[default]\n")).strip_fields_when_encrypted.empty());

    CHECK_THAT(policy_error(tmp, "strip_fields_when_encrypted = \"DKIM-Signature\"\n"),
               Contains("domains.toml:1:31: key 'strip_fields_when_encrypted': expected an array of header field "
                        "names, got a string"));
    CHECK_THAT(policy_error(tmp, "strip_fields_when_encrypted = [\"DKIM-Signature\", 3]\n"),
               Contains("domains.toml:1:50: key 'strip_fields_when_encrypted[1]': expected a string, got an integer"));
    CHECK_THAT(policy_error(tmp, "strip_fields_when_encrypted = [\"DKIM Signature\"]\n"),
               Contains("domains.toml:1:32: key 'strip_fields_when_encrypted[0]': 'DKIM Signature' is not a header "
                        "field name"));
    CHECK_THAT(policy_error(tmp, "strip_fields_when_encrypted = [\"Subject:\"]\n"),
               Contains("key 'strip_fields_when_encrypted[0]': 'Subject:' is not a header field name"));
    CHECK_THAT(policy_error(tmp, "strip_fields_when_encrypted = [\"\"]\n"),
               Contains("key 'strip_fields_when_encrypted[0]': '' is not a header field name"));
    CHECK_THAT(policy_error(tmp, "strip_fields_when_encrypted = [\"content-transfer-encoding\"]\n"),
               Contains("key 'strip_fields_when_encrypted[0]': 'content-transfer-encoding' belongs to the PGP/MIME "
                        "structure of the encrypted message and cannot be removed"));
    CHECK_THAT(policy_error(tmp, "strip_fields_when_encrypted = [\"MIME-Version\"]\n"),
               Contains("cannot be removed"));
    CHECK_THAT(policy_error(tmp, "strip_fields_when_encrypted = [\"DKIM-Signature\", \"dkim-signature\"]\n"),
               Contains("domains.toml:1:50: key 'strip_fields_when_encrypted[1]': 'dkim-signature' is listed twice"));
    // Per-domain it is not: one body serves every recipient.
    CHECK_THAT(policy_error(tmp, "[default]\nstrip_fields_when_encrypted = []\n"),
               Contains("domains.toml:2:1: key 'default.strip_fields_when_encrypted': unknown key"));
}

// --- [keys]: key sources, the key file template, the WKD root, the subaddress delimiter ---

TEST_CASE("[keys] defaults: the keyring only, subaddress delimiter +") {
    TempDir tmp;
    tmp.write("domains.toml", kPolicy);
    const auto config = mdcrypt::load_config(tmp.write("main.toml", "[policy]\nfile = \"domains.toml\"\n"));
    const mdcrypt::KeySettings& keys = config->gnupg.keys;
    CHECK(keys.sources == std::vector<mdcrypt::KeySource>{mdcrypt::KeySource::Keyring});
    CHECK(keys.file_template.empty());
    CHECK(keys.wkd_root == "/var/lib/mdcrypt-milter/openpgpkey");
    CHECK(keys.subaddress_delimiter == "+");
    CHECK(config->policy.subaddress_delimiter == "+");
}

TEST_CASE("[keys] sources in their order, template, WKD root relative to the main file, delimiter") {
    TempDir tmp;
    tmp.write("etc/domains.toml", kPolicy);
    const auto config = mdcrypt::load_config(tmp.write("etc/main.toml",
                                                       "[policy]\nfile = \"domains.toml\"\n"
                                                       "[keys]\nsources = [\"file\", \"wkd\", \"keyring\"]\n"
                                                       "file_template = \"/var/vmail/%d/%l/.pgp/pubkey.asc\"\n"
                                                       "wkd_root = \"openpgpkey\"\n"
                                                       "subaddress_delimiter = \"+-\"\n"));
    const mdcrypt::KeySettings& keys = config->gnupg.keys;
    using mdcrypt::KeySource;
    CHECK(keys.sources == std::vector<KeySource>{KeySource::File, KeySource::Wkd, KeySource::Keyring});
    CHECK(keys.file_template == "/var/vmail/%d/%l/.pgp/pubkey.asc");
    CHECK(keys.wkd_root == tmp.path() / "etc/openpgpkey");
    CHECK(keys.subaddress_delimiter == "+-");
    CHECK(config->policy.subaddress_delimiter == "+-");  // the policy matches addresses with it

    const auto none = mdcrypt::load_config(
        tmp.write("etc/main.toml", "[policy]\nfile = \"domains.toml\"\n[keys]\nsubaddress_delimiter = \"\"\n"));
    CHECK(none->policy.subaddress_delimiter.empty());
}

TEST_CASE("[keys] errors name the file, line and key") {
    TempDir tmp;
    const std::string policy = "[policy]\nfile = \"domains.toml\"\n";
    CHECK_THAT(main_error(tmp, policy + "[keys]\nsources = [\"keyring\", \"x500\"]\n"),
               Contains("main.toml:4:23: key 'keys.sources[1]': unknown key source 'x500'; valid sources: keyring, file, wkd, ldap"));
    CHECK_THAT(main_error(tmp, policy + "[keys]\nsources = [\"keyring\", \"keyring\"]\n"),
               Contains("main.toml:4:23: key 'keys.sources[1]': 'keyring' is listed twice"));
    CHECK_THAT(main_error(tmp, policy + "[keys]\nsources = []\n"),
               Contains("main.toml:4:11: key 'keys.sources': lists no key source"));
    CHECK_THAT(main_error(tmp, policy + "[keys]\nsources = \"keyring\"\n"),
               Contains("main.toml:4:11: key 'keys.sources': expected an array of key source names"));
    CHECK_THAT(main_error(tmp, policy + "[keys]\nsources = [\"file\"]\n"),
               Contains("main.toml:3:1: key 'keys.file_template': missing: sources lists \"file\""));
    CHECK_THAT(main_error(tmp, policy + "[keys]\nfile_template = \"/var/vmail/%d/%n/key.asc\"\n"),
               Contains("main.toml:4:17: key 'keys.file_template': bad key file template '/var/vmail/%d/%n/key.asc': "
                        "has a % sequence other than %d, %l, %u and %%"));
    CHECK_THAT(main_error(tmp, policy + "[keys]\nfile_template = \"%d/%l.asc\"\n"),
               Contains("key 'keys.file_template': bad key file template '%d/%l.asc': must be an absolute path"));
    CHECK_THAT(main_error(tmp, policy + "[keys]\nfile_template = \"/var/vmail/../../etc/%l\"\n"),
               Contains("key 'keys.file_template'") && Contains("has a \"..\" component"));
    CHECK_THAT(main_error(tmp, policy + "[keys]\nsubaddress_delimiter = \"a\"\n"),
               Contains("main.toml:4:24: key 'keys.subaddress_delimiter': 'a': a subaddress delimiter is one or more "
                        "punctuation characters"));
    CHECK_THAT(main_error(tmp, policy + "[keys]\nsubaddress_delimiter = \"@\"\n"), Contains("subaddress delimiter"));
    CHECK_THAT(main_error(tmp, policy + "[keys]\nsoruces = [\"file\"]\n"),
               Contains("main.toml:4:1: key 'keys.soruces': unknown key; did you mean 'keys.sources'?"));
    CHECK_THAT(main_error(tmp, policy + "[gnupg]\ntrust_model = \"gnupg\"\n[keys]\nsources = [\"keyring\", \"wkd\"]\n"
                                        "file_template = \"/k/%u\"\n"),
               Contains("main.toml:6:11: key 'keys.sources': keys from files and directories have no validity in gpg's trust database"));
}

// --- [ldap] ---

TEST_CASE("[ldap] with every key: URIs in order, TLS, CA, bind DN and password file, search, limits") {
    TempDir tmp;
    tmp.write("etc/domains.toml", kPolicy);
    const fs::path password = tmp.write("etc/ldap.secret", "s3cret\n");
    fs::permissions(password, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    const auto config = mdcrypt::load_config(tmp.write("etc/main.toml",
        "[policy]\nfile = \"domains.toml\"\n"
        "[keys]\nsources = [\"keyring\", \"ldap\"]\n"
        "[ldap]\nuris = [\"ldaps://ldap1.example.org\", \"ldaps://ldap2.example.org:1636/\"]\ntls = \"ldaps\"\n"
        "ca_file = \"ca.pem\"\nbind_dn = \"cn=mdcrypt,dc=example,dc=org\"\nbind_password_file = \"ldap.secret\"\n"
        "base = \"ou=people,dc=example,dc=org\"\nfilter = \"(&(objectClass=inetOrgPerson)(mail=%s))\"\n"
        "attribute = \"pgpKey\"\ntimeout_seconds = 3\nsize_limit = 5\nmax_key_size = \"64K\"\ncache_seconds = 60\n"));
    const mdcrypt::LdapSettings& ldap = config->gnupg.keys.ldap;
    using mdcrypt::KeySource;
    CHECK(config->gnupg.keys.sources == std::vector<KeySource>{KeySource::Keyring, KeySource::Ldap});
    CHECK(ldap.uris == std::vector<std::string>{"ldaps://ldap1.example.org", "ldaps://ldap2.example.org:1636/"});
    CHECK(ldap.tls == mdcrypt::LdapTls::Ldaps);
    CHECK(ldap.ca_file == tmp.path() / "etc/ca.pem");
    CHECK(ldap.bind_dn == "cn=mdcrypt,dc=example,dc=org");
    CHECK(ldap.bind_password_file == tmp.path() / "etc/ldap.secret");
    CHECK(ldap.base == "ou=people,dc=example,dc=org");
    CHECK(ldap.filter == "(&(objectClass=inetOrgPerson)(mail=%s))");
    CHECK(ldap.attribute == "pgpKey");
    CHECK(ldap.timeout_seconds == 3);
    CHECK(ldap.size_limit == 5);
    CHECK(ldap.max_key_size == 65536);
    CHECK(ldap.cache_seconds == 60);
}

TEST_CASE("[ldap] defaults: StartTLS, anonymous, (mail=%s), openPGPPublicKey, 10 s, 2 entries, 300 s cache") {
    TempDir tmp;
    tmp.write("domains.toml", kPolicy);
    const auto config = mdcrypt::load_config(tmp.write("main.toml",
        "[policy]\nfile = \"domains.toml\"\n[keys]\nsources = [\"ldap\"]\n"
        "[ldap]\nuris = [\"ldap://ldap.example.org\"]\nbase = \"dc=example,dc=org\"\n"));
    const mdcrypt::LdapSettings& ldap = config->gnupg.keys.ldap;
    CHECK(ldap.tls == mdcrypt::LdapTls::StartTls);
    CHECK(ldap.ca_file.empty());
    CHECK(ldap.bind_dn.empty());
    CHECK(ldap.filter == "(mail=%s)");
    CHECK(ldap.attribute == "openPGPPublicKey");
    CHECK(ldap.timeout_seconds == 10);
    CHECK(ldap.size_limit == 2);
    CHECK(ldap.max_key_size == 1 << 20);
    CHECK(ldap.cache_seconds == 300);
}

TEST_CASE("[ldap] errors name the file, line and key") {
    TempDir tmp;
    const std::string head = "[policy]\nfile = \"domains.toml\"\n[keys]\nsources = [\"ldap\"]\n[ldap]\n";
    const std::string uri = "uris = [\"ldap://ldap.example.org\"]\n";
    const std::string base = "base = \"dc=example,dc=org\"\n";
    CHECK_THAT(main_error(tmp, "[policy]\nfile = \"domains.toml\"\n[keys]\nsources = [\"ldap\"]\n"),
               Contains("main.toml:4:11: key 'keys.sources': lists \"ldap\", so the [ldap] table must set uris and base"));
    CHECK_THAT(main_error(tmp, head + base), Contains("main.toml:5:1: key 'ldap.uris': missing required key"));
    CHECK_THAT(main_error(tmp, head + uri), Contains("main.toml:5:1: key 'ldap.base': missing required key"));
    CHECK_THAT(main_error(tmp, head + base + "uris = [\"http://ldap.example.org\"]\n"),
               Contains("main.toml:7:9: key 'ldap.uris[0]': 'http://ldap.example.org' is not one LDAP URI"));
    CHECK_THAT(main_error(tmp, head + base + "uris = [\"ldap://a ldap://b\"]\n"), Contains("is not one LDAP URI"));
    CHECK_THAT(main_error(tmp, head + base + "uris = [\"ldap://a/dc=example\"]\n"),
               Contains("key 'ldap.uris[0]': 'ldap://a/dc=example': give the search base in base, not in the URI"));
    CHECK_THAT(main_error(tmp, head + base + "uris = [\"ldaps://a\"]\n"),
               Contains("main.toml:5:1: key 'ldap.tls': missing: the default \"starttls\" needs ldap:// URIs"));
    CHECK_THAT(main_error(tmp, head + base + uri + "tls = \"ldaps\"\n"),
               Contains("main.toml:8:7: key 'ldap.tls': tls = \"ldaps\" does not go with 'ldap://ldap.example.org'"));
    CHECK_THAT(main_error(tmp, head + base + uri + "tls = \"yes\"\n"),
               Contains("key 'ldap.tls': unknown TLS mode 'yes'; valid: starttls"));
    CHECK_THAT(main_error(tmp, head + base + uri + "filter = \"(mail=%x)\"\n"),
               Contains("main.toml:8:10: key 'ldap.filter': bad filter '(mail=%x)': unknown placeholder %x"));
    CHECK_THAT(main_error(tmp, head + base + uri + "filter = \"mail=%s\"\n"),
               Contains("key 'ldap.filter': bad filter 'mail=%s': a filter is enclosed in parentheses"));
    CHECK_THAT(main_error(tmp, head + base + uri + "attribute = \"pgp key\"\n"),
               Contains("key 'ldap.attribute': 'pgp key' is not an attribute name"));
    CHECK_THAT(main_error(tmp, head + "base = \"example.org\"\n" + uri), Contains("key 'ldap.base': 'example.org' is not a DN"));
    CHECK_THAT(main_error(tmp, head + base + uri + "timeout_seconds = 0\n"), Contains("key 'ldap.timeout_seconds': must be between 1"));
    CHECK_THAT(main_error(tmp, head + base + uri + "bind_dn = \"cn=m,dc=example,dc=org\"\n"),
               Contains("main.toml:5:1: key 'ldap.bind_password_file': missing: bind_dn is set"));
    CHECK_THAT(main_error(tmp, head + base + uri + "bind_password = \"x\"\n"),
               Contains("main.toml:8:1: key 'ldap.bind_password': unknown key; did you mean 'ldap.bind_password_file'?"));
    CHECK_THAT(main_error(tmp, head + base + uri + "bind_dn = \"cn=m\"\nbind_password_file = \"nothere\"\n"),
               Contains("main.toml:9:22: key 'ldap.bind_password_file': cannot use password file ") &&
                   Contains("nothere: No such file or directory"));
    const fs::path open_file = tmp.write("open.secret", "pw\n");
    fs::permissions(open_file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
    CHECK_THAT(main_error(tmp, head + base + uri + "bind_dn = \"cn=m\"\nbind_password_file = \"open.secret\"\n"),
               Contains("key 'ldap.bind_password_file': password file ") && Contains("open.secret has mode 0604: it must not be"));
    CHECK_THAT(main_error(tmp, "[policy]\nfile = \"domains.toml\"\n[gnupg]\ntrust_model = \"gnupg\"\n[keys]\nsources = [\"ldap\"]\n"),
               Contains("main.toml:6:11: key 'keys.sources': keys from files and directories have no validity"));
}

// --- [recipient."..."] entries in the policy file ---

TEST_CASE("a recipient entry overrides its domain, inherits what it leaves out, and makes its address local") {
    TempDir tmp;
    const auto policy = mdcrypt::load_policy(tmp.write("domains.toml",
                                                       "[default]\nmode = \"off\"\n"
                                                       "[domain.\"example.org\"]\nmode = \"opportunistic\"\nheader_protection = false\n"
                                                       "[recipient.\"Boss@Example.ORG\"]\nmode = \"required\"\n"
                                                       "[recipient.\"alice@elsewhere.example\"]\n"));
    const auto boss = policy.for_recipient(*mdcrypt::parse_address("boss@example.org"));
    REQUIRE(boss);
    CHECK(boss->mode == Mode::Required);
    CHECK_FALSE(boss->header_protection);  // from its domain's entry
    CHECK(boss->mode_from == "[recipient.\"Boss@Example.ORG\"]");
    CHECK(policy.for_recipient(*mdcrypt::parse_address("BOSS+x@example.org"))->mode == Mode::Required);
    CHECK(policy.for_recipient(*mdcrypt::parse_address("other@example.org"))->mode == Mode::Opportunistic);
    CHECK(policy.for_recipient(*mdcrypt::parse_address("other@example.org"))->mode_from == "[domain.\"example.org\"]");

    // elsewhere.example is not listed: the entry alone makes alice local, with [default]'s settings.
    const auto alice = policy.for_recipient(*mdcrypt::parse_address("alice@elsewhere.example"));
    REQUIRE(alice);
    CHECK(alice->mode == Mode::Off);
    CHECK(alice->mode_from == "[default]");
    CHECK_FALSE(policy.for_recipient(*mdcrypt::parse_address("bob@elsewhere.example")));
}

TEST_CASE("recipient entries are validated where they are written") {
    TempDir tmp;
    CHECK_THAT(policy_error(tmp, "[recipient.\"boss\"]\nmode = \"required\"\n"),
               Contains("domains.toml:1:12: key 'recipient.boss': bad recipient address"));
    CHECK_THAT(policy_error(tmp, "[recipient.\"boss@*.example.org\"]\n"),
               Contains("key 'recipient.\"boss@*.example.org\"': bad domain in recipient address"));
    CHECK_THAT(policy_error(tmp, "[recipient.\"boss+lists@example.org\"]\n"),
               Contains("key 'recipient.\"boss+lists@example.org\"': recipient entries are matched without the "
                        "subaddress"));
    CHECK_THAT(policy_error(tmp, "[recipient.\"boss@example.org\"]\nmode = \"always\"\n"),
               Contains("domains.toml:2:8: key 'recipient.\"boss@example.org\".mode': unknown mode 'always'"));
    CHECK_THAT(policy_error(tmp, "[recipient.\"boss@example.org\"]\nmode = \"off\"\n[recipient.\"BOSS@example.org\"]\n"),
               Contains("domains.toml:3:12: key 'recipient.\"BOSS@example.org\"': duplicate recipient: same as "
                        "'boss@example.org' on line 1"));
    // Without a delimiter, '+' is an ordinary character.
    const fs::path file = tmp.write("domains.toml", "[recipient.\"boss+lists@example.org\"]\nmode = \"required\"\n");
    const auto plus = mdcrypt::load_policy(file, "");
    CHECK(plus.for_recipient(*mdcrypt::parse_address("boss+lists@example.org"))->mode == Mode::Required);
    CHECK_FALSE(plus.for_recipient(*mdcrypt::parse_address("boss@example.org")));
}

TEST_CASE("the example files document [keys] with its defaults and a recipient entry") {
    const auto config = mdcrypt::load_config(fs::path(MDCRYPT_SOURCE_DIR) / "conf/mdcrypt-milter.toml");
    CHECK(config->gnupg.keys == mdcrypt::KeySettings{});
    const auto board = config->policy.for_recipient(*mdcrypt::parse_address("Board+news@lists.example.org"));
    REQUIRE(board);
    CHECK(board->mode == Mode::Required);
    CHECK(config->policy.for_recipient(*mdcrypt::parse_address("other@lists.example.org"))->mode == Mode::Opportunistic);
}

TEST_CASE("split and refusal per policy entry: per-class and permanent by default, inherited like mode") {
    TempDir tmp;
    const auto policy = mdcrypt::load_policy(tmp.write("domains.toml",
                                                       "[default]\nsplit = \"per-recipient\"\n"
                                                       "[domain.\"inherits.example\"]\n"
                                                       "[domain.\"own.example\"]\nsplit = \"per-class\"\nrefusal = \"temporary\"\n"
                                                       "[recipient.\"boss@own.example\"]\nsplit = \"per-recipient\"\n"));
    CHECK(policy.defaults.split == mdcrypt::Split::PerRecipient);
    CHECK(policy.defaults.refusal == mdcrypt::Refusal::Permanent);
    CHECK(policy.for_domain("inherits.example")->split == mdcrypt::Split::PerRecipient);
    CHECK(policy.for_domain("own.example")->split == mdcrypt::Split::PerClass);
    CHECK(policy.for_domain("own.example")->refusal == mdcrypt::Refusal::Temporary);
    const auto boss = policy.for_recipient(*mdcrypt::parse_address("boss@own.example"));
    REQUIRE(boss);
    CHECK(boss->split == mdcrypt::Split::PerRecipient);
    CHECK(boss->refusal == mdcrypt::Refusal::Temporary);  // from its domain

    const auto unset = mdcrypt::load_policy(tmp.write("domains.toml", "[domain.\"example.org\"]\n"));
    CHECK(unset.for_domain("example.org")->split == mdcrypt::Split::PerClass);

    CHECK_THAT(policy_error(tmp, "[default]\nsplit = \"per-domain\"\n"),
               Contains("domains.toml:2:9: key 'default.split': unknown split 'per-domain'; valid: per-class, per-recipient"));
    CHECK_THAT(policy_error(tmp, "[domain.\"example.org\"]\nrefusal = \"550\"\n"),
               Contains("domains.toml:2:11: key 'domain.\"example.org\".refusal': unknown refusal '550'; "
                        "valid: permanent (550 5.7.1), temporary (450 4.7.1)"));
}

TEST_CASE("milter.local_mailers lists MTA mailer names, empty by default") {
    TempDir tmp;
    tmp.write("domains.toml", kPolicy);
    const auto unset = mdcrypt::load_config(tmp.write("main.toml", "[policy]\nfile = \"domains.toml\"\n"));
    CHECK(unset->milter.local_mailers.empty());
    const auto set = mdcrypt::load_config(
        tmp.write("main.toml", "[milter]\nlocal_mailers = [\"virtual\", \"lmtp\"]\n[policy]\nfile = \"domains.toml\"\n"));
    CHECK(set->milter.local_mailers == std::vector<std::string>{"virtual", "lmtp"});
    CHECK_THAT(main_error(tmp, "[milter]\nlocal_mailers = \"virtual\"\n[policy]\nfile = \"domains.toml\"\n"),
               Contains("main.toml:2:17: key 'milter.local_mailers': expected an array"));
    CHECK_THAT(main_error(tmp, "[milter]\nlocal_mailers = [\"a b\"]\n[policy]\nfile = \"domains.toml\"\n"),
               Contains("key 'milter.local_mailers[0]': 'a b' is not a mailer name"));
}

namespace {

// The keys mdcrypt-milter.toml(5) documents: each is a ".TP" line followed by ".B key". Dotted ones are
// main-file keys, the others policy-file keys.
std::pair<std::set<std::string>, std::set<std::string>> keys_in_man_page() {
    std::ifstream page(fs::path(MDCRYPT_SOURCE_DIR) / "docs/man/mdcrypt-milter.toml.5");
    REQUIRE(page);
    std::set<std::string> main_keys, policy_keys;
    std::string line, previous;
    while (std::getline(page, line)) {
        if (previous == ".TP" && line.rfind(".B ", 0) == 0) {
            const std::string key = line.substr(3);
            (key.find('.') != std::string::npos ? main_keys : policy_keys).insert(key);
        }
        previous = line;
    }
    return {main_keys, policy_keys};
}

}  // namespace

TEST_CASE("mdcrypt-milter.toml(5) documents every key the parser accepts, and no other") {
    const auto [main_documented, policy_documented] = keys_in_man_page();
    const auto main_names = mdcrypt::main_file_key_names();
    const auto policy_names = mdcrypt::policy_file_key_names();
    const std::set<std::string> main_keys(main_names.begin(), main_names.end());
    const std::set<std::string> policy_keys(policy_names.begin(), policy_names.end());
    CHECK(main_keys.count("metrics.listen") == 1);  // the lists are the parser's, not empty
    CHECK(policy_keys.count("mode") == 1);
    CHECK(main_documented == main_keys);
    CHECK(policy_documented == policy_keys);
}
