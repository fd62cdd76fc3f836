// The Prometheus text exposition of the milter's counters (core/metrics.hpp) and its live gauges,
// serialised by prometheus-cpp. Pure: what is shown depends only on the arguments.
#pragma once

#include <cstdint>
#include <string>

#include "core/metrics.hpp"

namespace mdcrypt::milter {

struct LiveGauges {
    std::uint64_t messages_in_progress = 0;
    std::uint64_t connections = 0;
    std::uint64_t encryptions_running = 0;
    std::uint64_t encryption_limit = 0;
};

std::string metrics_text(const MetricsSnapshot& counters, const LiveGauges& gauges);

}  // namespace mdcrypt::milter
