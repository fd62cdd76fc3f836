#include "core/trustdb.hpp"

namespace mdcrypt {

namespace {

constexpr std::size_t kRecord = 40;
constexpr unsigned char kVersionRecord = 1, kTrustRecord = 12, kDisabled = 0x80;

}  // namespace

TrustDbFlags read_trustdb_disabled(std::string_view bytes) {
    TrustDbFlags flags;
    if (bytes.size() < kRecord || bytes.size() % kRecord != 0) {
        flags.error = "a trust database is made of 40-byte records, this one has " + std::to_string(bytes.size()) + " bytes";
        return flags;
    }
    if (static_cast<unsigned char>(bytes[0]) != kVersionRecord || bytes.substr(1, 3) != "gpg") {
        flags.error = "no trust database version record at byte 0";
        return flags;
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (std::size_t at = kRecord; at < bytes.size(); at += kRecord) {
        if (static_cast<unsigned char>(bytes[at]) != kTrustRecord) continue;
        if (!(static_cast<unsigned char>(bytes[at + 22]) & kDisabled)) continue;
        std::string fingerprint;
        for (std::size_t i = 0; i < 20; ++i) {
            const auto byte = static_cast<unsigned char>(bytes[at + 2 + i]);
            fingerprint += kHex[byte >> 4];
            fingerprint += kHex[byte & 15];
        }
        flags.disabled.push_back(std::move(fingerprint));
    }
    return flags;
}

}  // namespace mdcrypt
