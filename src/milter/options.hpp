// Command line of mdcrypt-milter.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace mdcrypt::milter {

#ifndef MDCRYPT_SYSCONFDIR
#define MDCRYPT_SYSCONFDIR "/etc"
#endif
// CMAKE_INSTALL_FULL_SYSCONFDIR: /etc for prefix /usr (the Debian package), /usr/local/etc for
// /usr/local, so the default is where `cmake --install` put the example configuration.
inline constexpr const char* kDefaultConfigFile = MDCRYPT_SYSCONFDIR "/mdcrypt-milter/mdcrypt-milter.toml";

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
