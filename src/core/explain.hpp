// `--explain ADDR`: what the milter and the filter would do with one recipient, and why, in words an
// administrator can act on. Pure: the key sources are consulted through an injected trace function.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/decision.hpp"
#include "core/key_chain.hpp"
#include "core/policy.hpp"

namespace mdcrypt {

using KeyTraceFn = std::function<KeyTrace(std::string_view address, std::int64_t now)>;

struct Explanation {
    RecipientDecision decision;  // exactly classify_envelope_recipient's
    std::string text;            // several lines, each ending in "\n"
};

// Whether the address is local and by which policy entry, its mode and the table that set it, the
// address keys are looked up for, each key source's answer (key fingerprint, expiry, where it came
// from, or why there is none) and the resulting class. Keys are looked up only when the milter would
// look them up (local, mode not off).
Explanation explain_recipient(const Policy& policy, std::string_view address, const KeyTraceFn& trace, std::int64_t now);

// "2027-01-31 12:00:00 UTC", or "never" for 0.
std::string format_expiry(std::int64_t expires);

}  // namespace mdcrypt
