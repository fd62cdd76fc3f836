// --check-config: what an administrator wants to see before (re)starting the daemon.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "core/config.hpp"

namespace mdcrypt::milter {

// Files, socket, spool, GnuPG home, the local domains with their modes, and how many usable keys
// the GnuPG home holds (nullopt: not known). Several lines, each ending in '\n'.
std::string describe_config(const Config& config, std::optional<std::size_t> usable_keys);

}  // namespace mdcrypt::milter
