#include <catch2/catch.hpp>

#include <vector>

#include "milter/options.hpp"

using namespace mdcrypt::milter;

namespace {

ParsedOptions parse(std::vector<const char*> args) { return parse_options(args); }

}  // namespace

TEST_CASE("the defaults: the installed config file, run the daemon") {
    const auto p = parse({});
    REQUIRE(p.options);
    CHECK(p.options->config_file == kDefaultConfigFile);
    CHECK_FALSE(p.options->check_config);
    CHECK_FALSE(p.options->log_stderr);
}

TEST_CASE("every option is understood") {
    const auto p = parse({"--config", "/etc/x.toml", "--check-config", "--log-stderr"});
    REQUIRE(p.options);
    CHECK(p.options->config_file == "/etc/x.toml");
    CHECK(p.options->check_config);
    CHECK(p.options->log_stderr);
    CHECK(parse({"--config=/a.toml"}).options->config_file == "/a.toml");
    CHECK(parse({"-c", "/b.toml"}).options->config_file == "/b.toml");
    CHECK(parse({"--version"}).options->show_version);
    CHECK(parse({"--help"}).options->show_help);
}

TEST_CASE("mistakes are reported, not guessed at") {
    CHECK_FALSE(parse({"--config"}).options);
    CHECK_FALSE(parse({"--config="}).options);
    CHECK_FALSE(parse({"--explain"}).options);
    const auto p = parse({"--confg", "x"});
    CHECK_FALSE(p.options);
    CHECK_THAT(p.error, Catch::Contains("--confg"));
}

TEST_CASE("the help names every option and the exit statuses") {
    const auto text = usage_text("mdcrypt-milter");
    for (const char* word : {"--config", "--check-config", "--log-stderr", "--version", "--help", "SIGHUP", "78", "75"})
        CHECK_THAT(text, Catch::Contains(word));
}

TEST_CASE("explain: every argument after --explain is an address") {
    const auto p = parse({"--config", "/etc/x.toml", "--explain", "alice@example.org", "--config", "b+x@example.org"});
    REQUIRE(p.options);
    CHECK(p.options->config_file == "/etc/x.toml");
    CHECK(p.options->explain_addresses == std::vector<std::string>{"alice@example.org", "--config", "b+x@example.org"});
    CHECK(parse({}).options->explain_addresses.empty());
    const auto none = parse({"--explain"});
    CHECK_FALSE(none.options);
    CHECK_THAT(none.error, Catch::Contains("--explain needs at least one address"));
    CHECK_THAT(usage_text("mdcrypt-milter"), Catch::Contains("--explain ADDR"));
}
