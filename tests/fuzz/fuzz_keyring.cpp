// libFuzzer target for the readers of keyring files an administrator's disk can damage: the keybox
// and legacy keyring framing (keyring_file.hpp) and mdcrypt-expected-keys (expected_keys.hpp).
// Invariants: no crash, bounded work, and a reader either fails with a reason and no keys, or gives
// well-formed fingerprints; expected keys survive a format/parse round trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/expected_keys.hpp"
#include "core/keyring_file.hpp"

namespace {

bool is_upper_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
    return true;
}

void check(bool ok) {
    if (!ok) std::abort();
}

void check_contents(const mdcrypt::KeyringContents& contents) {
    if (!contents.ok()) {
        check(contents.fingerprints.empty());
        return;
    }
    for (const auto& fingerprint : contents.fingerprints) check(fingerprint.size() == 40 && is_upper_hex(fingerprint));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    check_contents(mdcrypt::read_keybox(bytes));
    check_contents(mdcrypt::read_legacy_keyring(bytes));

    const mdcrypt::ExpectedKeys expected = mdcrypt::parse_expected_keys(bytes, "fuzz");
    if (!expected.ok()) {
        check(expected.keys.empty());
    } else {
        for (const auto& key : expected.keys) {
            check((key.fingerprint.size() == 40 || key.fingerprint.size() == 64) && is_upper_hex(key.fingerprint));
            for (const auto& address : key.addresses) check(address.find('@') != std::string::npos);
        }
        const auto again = mdcrypt::parse_expected_keys(mdcrypt::format_expected_keys(expected.keys), "fuzz");
        check(again.ok() && again.keys == expected.keys);
    }
    return 0;
}
