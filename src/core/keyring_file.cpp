#include "core/keyring_file.hpp"

#include <cstdint>

#include "core/openpgp_keys.hpp"

namespace mdcrypt {

namespace {

constexpr std::size_t kHeaderBlobSize = 32;
constexpr std::uint8_t kBlobEmpty = 0;   // a deleted key's space
constexpr std::uint8_t kBlobHeader = 1;  // the first blob
constexpr std::uint8_t kBlobOpenPgp = 2;
constexpr std::uint8_t kBlobX509 = 3;
constexpr std::uint16_t kBlobFlagEphemeral = 2;  // gpg lists these only with --with-ephemeral-keys
// Offsets in an OpenPGP blob: length(4) type(1) version(1) flags(2) keyblock offset(4) keyblock
// length(4) number of keys(2) size of one key info(2), then the key infos, each starting with the
// key's fingerprint (20 bytes).
constexpr std::size_t kFlagsAt = 6;
constexpr std::size_t kKeyblockAt = 8;
constexpr std::size_t kKeyCountAt = 16;
constexpr std::size_t kKeyInfoSizeAt = 18;
constexpr std::size_t kFirstKeyInfoAt = 20;
constexpr std::size_t kFingerprintBytes = 20;
constexpr std::size_t kMinKeyInfoSize = 28;

std::uint32_t u8(std::string_view b, std::size_t at) { return static_cast<unsigned char>(b[at]); }
std::uint32_t u16(std::string_view b, std::size_t at) { return (u8(b, at) << 8) | u8(b, at + 1); }
std::uint32_t u32(std::string_view b, std::size_t at) { return (u16(b, at) << 16) | u16(b, at + 2); }

std::string hex_upper(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto v = static_cast<unsigned char>(c);
        out.push_back(kDigits[v >> 4]);
        out.push_back(kDigits[v & 15]);
    }
    return out;
}

KeyringContents failed(std::string error) {
    KeyringContents c;
    c.error = std::move(error);
    return c;
}

std::string at(std::size_t offset) { return " at byte " + std::to_string(offset); }

}  // namespace

KeyringContents read_keybox(std::string_view bytes) {
    if (bytes.empty()) return failed("the keybox is empty (zero bytes): GnuPG always writes a header");
    if (bytes.size() < kHeaderBlobSize) return failed("the keybox is shorter than its 32-byte header");
    if (u32(bytes, 0) != kHeaderBlobSize || u8(bytes, 4) != kBlobHeader || bytes.substr(8, 4) != "KBXf")
        return failed("no keybox header (KBXf) at byte 0");

    KeyringContents contents;
    for (std::size_t pos = kHeaderBlobSize; pos < bytes.size();) {
        const std::size_t left = bytes.size() - pos;
        if (left < 5) return failed("a blob header is cut off" + at(pos));
        const std::size_t length = u32(bytes, pos);
        const std::uint32_t type = u8(bytes, pos + 4);
        if (length < 5 || length > kMaxKeyboxBlob)
            return failed("a blob claims " + std::to_string(length) + " bytes" + at(pos));
        if (length > left)
            return failed("a blob of " + std::to_string(length) + " bytes is cut off after " + std::to_string(left) + at(pos));
        const std::string_view blob = bytes.substr(pos, length);
        if (type == kBlobOpenPgp) {
            if (blob.size() < kFirstKeyInfoAt) return failed("an OpenPGP blob is too short for its header" + at(pos));
            const std::size_t keyblock = u32(blob, kKeyblockAt);
            const std::size_t keyblock_length = u32(blob, kKeyblockAt + 4);
            const std::size_t keys = u16(blob, kKeyCountAt);
            const std::size_t info_size = u16(blob, kKeyInfoSizeAt);
            if (keys == 0 || info_size < kMinKeyInfoSize || kFirstKeyInfoAt + info_size > blob.size())
                return failed("an OpenPGP blob has no readable key table" + at(pos));
            if (keyblock > blob.size() || keyblock_length > blob.size() - keyblock || keyblock_length == 0)
                return failed("an OpenPGP blob's key block lies outside it" + at(pos));
            if ((u16(blob, kFlagsAt) & kBlobFlagEphemeral) == 0)
                contents.fingerprints.push_back(hex_upper(blob.substr(kFirstKeyInfoAt, kFingerprintBytes)));
        } else if (type != kBlobEmpty && type != kBlobX509) {
            return failed("a blob of unknown type " + std::to_string(type) + at(pos));
        }
        pos += length;
    }
    return contents;
}

KeyringContents read_legacy_keyring(std::string_view bytes) {
    if (bytes.empty()) return failed("the keyring is empty (zero bytes)");
    const SplitKeys split = split_public_keys(bytes);
    if (!split.ok()) return failed(split.error);
    KeyringContents contents;
    // Keys without a v4 fingerprint (v3, which gpg 2.2 skips) are not expected in a listing.
    for (const auto& key : split.keys)
        if (!key.fingerprint.empty()) contents.fingerprints.push_back(key.fingerprint);
    return contents;
}

}  // namespace mdcrypt
