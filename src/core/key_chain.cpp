#include "core/key_chain.hpp"

#include "core/metrics.hpp"

namespace mdcrypt {

KeyLookup combine_answers(std::span<const SourceAnswer> answers, std::size_t* used) {
    KeyLookup result;
    std::string reasons;
    for (std::size_t i = 0; i < answers.size(); ++i) {
        const KeyLookup& answer = answers[i].lookup;
        if (answer.status == KeyLookup::Status::NotFound) {
            if (!reasons.empty()) reasons += "; ";
            reasons += answer.reason.empty() ? answers[i].source + ": no key" : answer.reason;
            continue;
        }
        if (used) *used = i;
        result = answer;
        if (answer.status == KeyLookup::Status::Error)
            result.reason = "key source " + answers[i].source + " failed: " + answer.reason;
        return result;
    }
    if (used) *used = answers.size();
    result.status = KeyLookup::Status::NotFound;
    result.reason = answers.empty() ? "no key source configured" : reasons;
    return result;
}

KeyLookup KeySourceChain::lookup(std::string_view address, std::int64_t now) const {
    std::vector<SourceAnswer> answers;
    for (const auto& source : sources_) {
        answers.push_back({source.name, source.lookup(address, now)});
        metrics().key_lookup(source.name, answers.back().lookup.status);
        if (answers.back().lookup.status != KeyLookup::Status::NotFound) break;
    }
    return combine_answers(answers);
}

KeyTrace KeySourceChain::trace(std::string_view address, std::int64_t now) const {
    KeyTrace trace;
    for (const auto& source : sources_) trace.answers.push_back({source.name, source.lookup(address, now)});
    trace.result = combine_answers(trace.answers, &trace.used);
    return trace;
}

}  // namespace mdcrypt
