// Command line of mdcrypt-milter.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>

namespace mdcrypt::milter {

inline constexpr const char* kDefaultConfigFile = "/etc/mdcrypt-milter/mdcrypt-milter.toml";

struct Options {
    std::filesystem::path config_file = kDefaultConfigFile;
    bool check_config = false;  // validate config and policy, print a summary, exit
    bool show_version = false;
    bool show_help = false;
    bool log_stderr = false;    // also log to stderr when it is not a terminal
};

struct ParsedOptions {
    std::optional<Options> options;  // nullopt when the command line is wrong
    std::string error;               // then: what was wrong
};

// argv without the program name. Accepts "--config FILE" and "--config=FILE".
ParsedOptions parse_options(std::span<const char* const> args);

std::string usage_text(std::string_view program);

}  // namespace mdcrypt::milter
