#include "crypto/explain.hpp"

#include "core/explain.hpp"

namespace mdcrypt {

ExplainReport explain_addresses(const Config& config, const KeySources& sources, std::span<const std::string> addresses,
                                std::int64_t now) {
    ExplainReport report;
    const std::string delimiter = config.policy.subaddress_delimiter;
    report.text += "policy file: " + config.policy_file.string() + "\n";
    report.text += "key sources, in order: " + sources.describe() + "\n";
    report.text += "encryption engine: " + std::string(to_string(config.gnupg.backend)) + " (key selection is the same for every engine)\n";
    report.text += "subaddress delimiter: " + (delimiter.empty() ? std::string("none") : "\"" + delimiter + "\"") + "\n";
    const KeyTraceFn trace = [&sources](std::string_view address, std::int64_t at) { return sources.trace(address, at); };
    for (const auto& address : addresses) {
        const Explanation e = explain_recipient(config.policy, address, trace, now);
        report.text += "\n" + e.text;
        if (e.decision.cls == RecipientClass::Defer) report.any_lookup_failed = true;
    }
    return report;
}

ExplainReport explain_addresses(const Config& config, std::span<const std::string> addresses, std::int64_t now) {
    const KeySources sources(config.gnupg);
    return explain_addresses(config, sources, addresses, now);
}

}  // namespace mdcrypt
