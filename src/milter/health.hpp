// What GET /health answers: whether mail can be encrypted right now. Each check is one line; any
// failure makes the answer 503, so a monitor needs no parsing.
#pragma once

#include "milter/metrics_server.hpp"
#include "milter/runtime.hpp"

namespace mdcrypt::milter {

// keyring: the index lists (usable_key_count; a cached listing when the keyring is unchanged);
// gpg: a gpg run succeeds now (check_gpg); spool: a file can be created in the spool directory.
HealthReport check_health(const Snapshot& snapshot);

}  // namespace mdcrypt::milter
