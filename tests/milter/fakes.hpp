// Stand-ins for the layers below the milter adapter in its unit tests: the core tests' FakeEncryptor
// (tests/support), a key lookup from a table, and a private temporary directory.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/decision.hpp"
#include "core/encryptor.hpp"
#include "core/header.hpp"
#include "core/processor.hpp"
#include "core/text.hpp"
#include "fake_encryptor.hpp"
#include "temp_dir.hpp"

namespace mdcrypt::testing {

// address (compared case-insensitively, as KeyIndex does) -> fingerprint; addresses in `errors` fail.
inline KeyLookupFn table_lookup(std::map<std::string, std::string> keys, std::vector<std::string> errors = {}) {
    return [keys = std::move(keys), errors = std::move(errors)](std::string_view address, std::int64_t) {
        KeyLookup result;
        for (const auto& e : errors)
            if (iequals(e, address)) {
                result.status = KeyLookup::Status::Error;
                result.reason = "keyring unreadable";
                return result;
            }
        const auto it = keys.find(to_lower_ascii(address));
        if (it == keys.end()) {
            result.status = KeyLookup::Status::NotFound;
            result.reason = "no key";
            return result;
        }
        result.status = KeyLookup::Status::Found;
        result.key = UsableKey{it->second, 0, "test"};
        return result;
    };
}

// A 0700 directory under $TMPDIR (or /tmp), removed with everything in it.

}  // namespace mdcrypt::testing
