// --check-config: what an administrator wants to see before (re)starting the daemon.
#pragma once

#include <cstddef>
#include <optional>
#include <filesystem>
#include <string>
#include <vector>

#include "core/config.hpp"

namespace mdcrypt::milter {

// Files, socket, spool, GnuPG home, how many usable keys the GnuPG home holds (nullopt: not known),
// the key sources in the order they are asked, the local mailers when set, and the default, each
// local domain and each recipient entry with its mode, split and refusal. Several lines, each ending
// in '\n'.
std::string describe_config(const Config& config, std::optional<std::size_t> usable_keys);

// Advice about the GnuPG home, one line each (empty: nothing to say). Today: gpg.conf should have
// `no-random-seed-file`, else every gpg run rewrites and locks the home's random_seed and parallel
// encryptions queue behind each other (bench/README.md measured it).
std::vector<std::string> gnupg_home_advice(const std::filesystem::path& home);

// Files of the GnuPG home that this process cannot use as the daemon must: the home itself read,
// write and search (gpg takes lock files there), each regular file in it readable. One line per
// problem, naming the file, its owner and mode and the command that fixes it (chown to `owner`,
// "user:group"). Call it with the daemon's identity in effect (after dropping privileges).
std::vector<std::string> gnupg_home_access_problems(const std::filesystem::path& home, const std::string& owner);

// The warning for a daemon that keeps running as root (`euid` 0 and no [milter] user): every
// parser of hostile mail then runs as root. nullopt when there is nothing to say.
std::optional<std::string> root_warning(const Config& config, unsigned euid);

}  // namespace mdcrypt::milter
