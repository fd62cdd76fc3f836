#include "milter/metrics_exposition.hpp"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <sstream>
#include <vector>

namespace mdcrypt::milter {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
    MetricFamily f;
    f.name = std::move(name);
    f.help = std::move(help);
    f.type = type;
    return f;
}

void add_counter(MetricFamily& f, std::vector<ClientMetric::Label> labels, std::uint64_t value) {
    ClientMetric m;
    m.label = std::move(labels);
    m.counter.value = static_cast<double>(value);
    f.metric.push_back(std::move(m));
}

void add_gauge(MetricFamily& f, std::uint64_t value) {
    ClientMetric m;
    m.gauge.value = static_cast<double>(value);
    f.metric.push_back(std::move(m));
}

template <std::size_t N>
MetricFamily histogram(std::string name, std::string help, const HistogramValues<N>& values) {
    MetricFamily f = family(std::move(name), std::move(help), MetricType::Histogram);
    ClientMetric m;
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < N; ++i) {
        cumulative += values.counts[i];
        m.histogram.bucket.push_back({cumulative, values.bounds[i]});
    }
    cumulative += values.counts[N];
    m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = values.sum;
    f.metric.push_back(std::move(m));
    return f;
}

std::string_view class_label(std::size_t i) {
    static constexpr std::string_view labels[] = {"encrypt", "plain", "refuse", "defer"};
    return labels[i];
}

std::string_view admission_label(std::size_t i) {
    static constexpr std::string_view labels[] = {"accept", "refuse", "defer", "separate"};
    return labels[i];
}

}  // namespace

std::string metrics_text(const MetricsSnapshot& c, const LiveGauges& g) {
    std::vector<MetricFamily> families;

    auto messages = family("mdcrypt_messages_total", "Messages by what the MTA was told at end of message.",
                           MetricType::Counter);
    for (std::size_t i = 0; i < kMessageOutcomes; ++i)
        add_counter(messages, {{"outcome", std::string(to_string(static_cast<MessageOutcome>(i)))}}, c.messages[i]);
    families.push_back(std::move(messages));

    auto tempfails = family("mdcrypt_tempfailed_messages_total", "Tempfailed messages by cause.", MetricType::Counter);
    for (std::size_t i = 0; i < kTempfailCauses; ++i)
        add_counter(tempfails, {{"cause", std::string(to_string(static_cast<TempfailCause>(i)))}}, c.tempfails[i]);
    families.push_back(std::move(tempfails));

    auto recipients = family("mdcrypt_recipients_total",
                             "Recipients at RCPT by class (policy and key) and admission (the reply).", MetricType::Counter);
    for (std::size_t k = 0; k < 4; ++k)
        for (std::size_t a = 0; a < 4; ++a)
            add_counter(recipients, {{"admission", std::string(admission_label(a))}, {"class", std::string(class_label(k))}},
                        c.recipients[k][a]);
    families.push_back(std::move(recipients));

    auto bytes_in = family("mdcrypt_message_bytes_received_total", "Header and body bytes of finished messages.",
                           MetricType::Counter);
    add_counter(bytes_in, {}, c.bytes_in);
    families.push_back(std::move(bytes_in));
    auto bytes_out = family("mdcrypt_encrypted_body_bytes_total", "Bytes of encrypted bodies sent back to the MTA.",
                            MetricType::Counter);
    add_counter(bytes_out, {}, c.bytes_out);
    families.push_back(std::move(bytes_out));

    families.push_back(histogram("mdcrypt_encryption_duration_seconds",
                                 "Time at end of message for messages that were encrypted.", c.encryption_seconds));
    families.push_back(histogram("mdcrypt_encryption_slot_wait_seconds",
                                 "Time a message waited for an encryption slot (max_concurrent_encryptions).",
                                 c.slot_wait_seconds));

    auto lookups = family("mdcrypt_key_lookups_total", "Key lookups by source and outcome.", MetricType::Counter);
    static constexpr const char* kLookupOutcomes[] = {"found", "not_found", "error"};
    for (std::size_t s = 0; s < kKeySources; ++s)
        for (std::size_t o = 0; o < 3; ++o)
            add_counter(lookups, {{"outcome", kLookupOutcomes[o]}, {"source", std::string(key_source_label(s))}},
                        c.key_lookups[s][o]);
    families.push_back(std::move(lookups));

    auto listings = family("mdcrypt_keyring_listings_total",
                           "Keyring index rebuilds (gpg listings of the GnuPG home) by result.", MetricType::Counter);
    add_counter(listings, {{"result", "ok"}}, c.keyring_listings[0]);
    add_counter(listings, {{"result", "failed"}}, c.keyring_listings[1]);
    families.push_back(std::move(listings));

    auto gpg = family("mdcrypt_gpg_failures_total", "gpg runs that failed, timed out or were stopped.", MetricType::Counter);
    static constexpr const char* kFailures[] = {"failed", "timeout", "stopped"};
    for (std::size_t r = 0; r < kGpgRuns; ++r)
        for (std::size_t k = 0; k < 3; ++k)
            add_counter(gpg, {{"kind", kFailures[k]}, {"run", std::string(to_string(static_cast<GpgRun>(r)))}},
                        c.gpg_failures[r][k]);
    families.push_back(std::move(gpg));

    auto in_progress = family("mdcrypt_messages_in_progress", "Messages being processed at end of message now.",
                              MetricType::Gauge);
    add_gauge(in_progress, g.messages_in_progress);
    families.push_back(std::move(in_progress));
    auto connections = family("mdcrypt_connections", "MTA connections open now.", MetricType::Gauge);
    add_gauge(connections, g.connections);
    families.push_back(std::move(connections));
    auto running = family("mdcrypt_encryptions_running", "Encryptions holding a slot now.", MetricType::Gauge);
    add_gauge(running, g.encryptions_running);
    families.push_back(std::move(running));
    auto limit = family("mdcrypt_encryption_slots", "max_concurrent_encryptions in effect.", MetricType::Gauge);
    add_gauge(limit, g.encryption_limit);
    families.push_back(std::move(limit));

    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, families);
    return out.str();
}

}  // namespace mdcrypt::milter
