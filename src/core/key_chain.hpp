// Key sources in a configured order (keyring, per-user key file, local WKD tree) and the rule that
// turns their answers into one KeyLookup. Pure: the sources are injected functions.
//
// The rule, in source order:
//   - the first source with a usable key wins (later sources are not asked);
//   - a source that fails (Error: it could not be consulted, e.g. the keyring listing failed) before
//     any usable key makes the whole lookup an Error: the failed source might have held the key the
//     administrator ranked first (a later source's key could be one the recipient no longer has), or a
//     key where the others have none. So the recipient is deferred, never encrypted to a possibly
//     superseded key and never downgraded to plain text;
//   - otherwise NotFound, with every source's reason.
// Key file sources never answer Error: an unreadable or broken file is "no key" with its reason.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/decision.hpp"

namespace mdcrypt {

struct NamedKeySource {
    std::string name;  // "keyring", "file", "wkd"
    KeyLookupFn lookup;
};

// One source's answer.
struct SourceAnswer {
    std::string source;  // NamedKeySource::name
    KeyLookup lookup;
};

// Every source's answer, for --explain; `result` is what a lookup returns, `used` the index of the
// answer it came from (the key's source, or the failing one), answers.size() when none.
struct KeyTrace {
    std::vector<SourceAnswer> answers;
    KeyLookup result;
    std::size_t used = 0;
};

// The rule above over answers in source order. No answers: NotFound "no key source configured".
KeyLookup combine_answers(std::span<const SourceAnswer> answers, std::size_t* used = nullptr);

class KeySourceChain {
public:
    explicit KeySourceChain(std::vector<NamedKeySource> sources) : sources_(std::move(sources)) {}

    // Asks the sources in order and stops at the first usable key or failure.
    KeyLookup lookup(std::string_view address, std::int64_t now) const;
    // Asks every source (an admin tool's view; costs what each source costs).
    KeyTrace trace(std::string_view address, std::int64_t now) const;

    const std::vector<NamedKeySource>& sources() const { return sources_; }

private:
    std::vector<NamedKeySource> sources_;
};

}  // namespace mdcrypt
