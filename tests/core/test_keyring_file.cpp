// The keyring framing readers: what a keybox or legacy keyring holds, and that damage is an error with
// its offset, never an empty keyring.
#include "core/keyring_file.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

using namespace mdcrypt;

namespace {

void put32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
void put16(std::string& out, std::uint32_t v) {
    out.push_back(static_cast<char>((v >> 8) & 0xff));
    out.push_back(static_cast<char>(v & 0xff));
}

std::string header_blob() {
    std::string h;
    put32(h, 32);
    h += '\x01';  // type: header
    h += '\x01';  // version
    put16(h, 2);
    h += "KBXf";
    h.resize(32, '\0');
    return h;
}

// An OpenPGP blob as GnuPG 2.2 writes it: header, one 28-byte key info per key, a key block.
std::string openpgp_blob(unsigned char fingerprint_byte, std::uint16_t flags = 0, std::uint8_t type = 2) {
    const std::string keyblock(40, '\x99');
    std::string b;
    put32(b, 0);  // length, patched below
    b += static_cast<char>(type);
    b += '\x01';
    put16(b, flags);
    const std::size_t keyblock_at = 20 + 28 + 8;
    put32(b, static_cast<std::uint32_t>(keyblock_at));
    put32(b, static_cast<std::uint32_t>(keyblock.size()));
    put16(b, 1);   // one key
    put16(b, 28);  // key info size
    b += std::string(20, static_cast<char>(fingerprint_byte));
    put32(b, 0);
    put16(b, 0);
    put16(b, 0);
    b += std::string(8, '\0');  // serial number and user ID tables, empty here
    b += keyblock;
    b += std::string(20, '\0');  // checksum
    const auto length = static_cast<std::uint32_t>(b.size());
    std::string patched;
    put32(patched, length);
    return patched + b.substr(4);
}

}  // namespace

TEST_CASE("a keybox lists the primary fingerprint of each OpenPGP blob") {
    const std::string kbx = header_blob() + openpgp_blob(0xAB) + openpgp_blob(0x01);
    const KeyringContents contents = read_keybox(kbx);
    REQUIRE(contents.ok());
    REQUIRE(contents.fingerprints.size() == 2);
    CHECK(contents.fingerprints[0] == "ABABABABABABABABABABABABABABABABABABABAB");
    CHECK(contents.fingerprints[1] == "0101010101010101010101010101010101010101");
}

TEST_CASE("a keybox with only its header holds no keys, deleted and ephemeral blobs are not expected") {
    CHECK(read_keybox(header_blob()).ok());
    CHECK(read_keybox(header_blob()).fingerprints.empty());
    const std::string kbx = header_blob() + openpgp_blob(0x11, 0, 0) + openpgp_blob(0x22, 2) + openpgp_blob(0x33);
    const KeyringContents contents = read_keybox(kbx);
    REQUIRE(contents.ok());
    REQUIRE(contents.fingerprints.size() == 1);
    CHECK(contents.fingerprints[0] == std::string(40, '3'));
}

TEST_CASE("a damaged keybox is an error naming where, never an empty keyring") {
    const std::string good = header_blob() + openpgp_blob(0xAB) + openpgp_blob(0xCD);

    SECTION("zero bytes") {
        const auto c = read_keybox("");
        CHECK_FALSE(c.ok());
        CHECK_THAT(c.error, Catch::Contains("zero bytes"));
    }
    SECTION("shorter than its header, or no KBXf magic") {
        CHECK_FALSE(read_keybox(good.substr(0, 20)).ok());
        std::string bad = good;
        bad[9] = 'X';
        CHECK_THAT(read_keybox(bad).error, Catch::Contains("KBXf"));
    }
    SECTION("cut anywhere inside a blob") {
        for (std::size_t size = 33; size < good.size(); ++size) {
            const auto c = read_keybox(good.substr(0, size));
            INFO("cut to " << size << " bytes");
            if (size == 32 + openpgp_blob(0xAB).size()) {
                CHECK(c.ok());  // exactly at a blob boundary: one whole key, and gpg must list it
                CHECK(c.fingerprints.size() == 1);
            } else {
                CHECK_FALSE(c.ok());
            }
        }
    }
    SECTION("a blob whose length runs past the file (kbxutil's 'long blob')") {
        std::string bad = good;
        bad[32] = '\x7f';  // first blob's length: 0x7f......
        const auto c = read_keybox(bad);
        CHECK_FALSE(c.ok());
        CHECK_THAT(c.error, Catch::Contains("at byte 32"));
        CHECK(c.fingerprints.empty());
    }
    SECTION("a blob shorter than a blob header") {
        std::string bad = good;
        bad.replace(32, 4, std::string("\0\0\0\x02", 4));
        CHECK_FALSE(read_keybox(bad).ok());
    }
    SECTION("an unknown blob type") {
        std::string bad = good;
        bad[36] = '\x09';
        CHECK_THAT(read_keybox(bad).error, Catch::Contains("unknown type 9"));
    }
    SECTION("an OpenPGP blob without keys, or with a key block outside it") {
        std::string no_keys = good;
        no_keys[32 + 16] = 0;
        no_keys[32 + 17] = 0;
        CHECK_FALSE(read_keybox(no_keys).ok());
        std::string outside = good;
        outside[32 + 12] = '\x7f';
        CHECK_FALSE(read_keybox(outside).ok());
    }
}

TEST_CASE("a legacy keyring lists its v4 keys, damage is an error") {
    // A v4 public key packet (tag 6, old format, one length byte) with a minimal body, then a user ID.
    std::string body = std::string("\x04\x00\x00\x00\x00\x01", 6) + std::string(4, '\x01');
    std::string key = std::string(1, static_cast<char>(0x98)) + static_cast<char>(body.size()) + body;
    key += std::string(1, static_cast<char>(0xB4)) + '\x05' + "a@b.c";
    const auto one = read_legacy_keyring(key);
    REQUIRE(one.ok());
    REQUIRE(one.fingerprints.size() == 1);
    CHECK(one.fingerprints[0].size() == 40);
    const auto two = read_legacy_keyring(key + key);
    REQUIRE(two.ok());
    CHECK(two.fingerprints.size() == 2);

    CHECK_THAT(read_legacy_keyring("").error, Catch::Contains("zero bytes"));
    CHECK_FALSE(read_legacy_keyring(key.substr(0, key.size() - 2)).ok());     // truncated
    CHECK_FALSE(read_legacy_keyring(key + std::string(5, '\x00')).ok());      // garbage after the keys
}
