// Command line of mdcrypt-milter.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace mdcrypt::milter {

// Where `cmake --install` puts the configuration (GNUInstallDirs' SYSCONFDIR: /etc for prefix /usr).
#ifndef MDCRYPT_DEFAULT_CONFIG
#define MDCRYPT_DEFAULT_CONFIG "/etc/mdcrypt-milter/mdcrypt-milter.toml"
#endif
inline constexpr const char* kDefaultConfigFile = MDCRYPT_DEFAULT_CONFIG;

struct Options {
    std::filesystem::path config_file = kDefaultConfigFile;
    bool check_config = false;  // validate config and policy, print a summary, exit
    bool show_version = false;
    bool show_help = false;
    bool log_stderr = false;    // also log to stderr when it is not a terminal
    // --explain ADDR...: print, per address, local or not, mode, each key source's answer and the
    // class (crypto/explain.hpp), then exit. Every argument after --explain is an address.
    std::vector<std::string> explain_addresses;
};

struct ParsedOptions {
    std::optional<Options> options;  // nullopt when the command line is wrong
    std::string error;               // then: what was wrong
};

// argv without the program name. Accepts "--config FILE" and "--config=FILE".
ParsedOptions parse_options(std::span<const char* const> args);

std::string usage_text(std::string_view program);

}  // namespace mdcrypt::milter
