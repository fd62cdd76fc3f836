// `--explain ADDR...` for mdcrypt-filter and mdcrypt-milter: the configured key sources, then, per
// address, explain_recipient's report (local or not, mode and the policy entry that set it, each key
// source's answer, the class).
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/config.hpp"
#include "crypto/key_sources.hpp"

namespace mdcrypt {

struct ExplainReport {
    std::string text;
    bool any_lookup_failed = false;  // some address is classed defer (a key source failed)
};

ExplainReport explain_addresses(const Config& config, const KeySources& sources, std::span<const std::string> addresses,
                                std::int64_t now);

// Builds the key sources from config.gnupg first. Throws GpgmeInitError when the home or gpg is unusable.
ExplainReport explain_addresses(const Config& config, std::span<const std::string> addresses, std::int64_t now);

}  // namespace mdcrypt
