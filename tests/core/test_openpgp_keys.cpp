#include "core/openpgp_keys.hpp"

#include <catch2/catch.hpp>

#include "core/armor.hpp"

#include <stdexcept>
#include <string>

#include "core/sha1.hpp"

using mdcrypt::split_public_keys;

namespace {

// A new-format packet (tag, one-octet length).
std::string packet(int tag, const std::string& body) {
    if (body.size() >= 192) throw std::logic_error("packet(): body too long for a one-octet length");
    return std::string(1, static_cast<char>(0xC0 | tag)) + static_cast<char>(body.size()) + body;
}

// A v4 public key packet body: version, creation time, algorithm, some key material.
std::string key_body(char seed) { return std::string("\x04\x60\x00\x00\x00\x16", 6) + std::string(34, seed); }

std::string v4_fingerprint(const std::string& body) {
    const std::string prefixed = std::string(1, '\x99') + static_cast<char>(body.size() >> 8) +
                                 static_cast<char>(body.size() & 0xff) + body;
    return mdcrypt::to_hex_upper(mdcrypt::sha1(prefixed));
}

std::string base64(const std::string& data) {
    static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (std::size_t i = 0; i < data.size(); i += 3) {
        std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(data[i])) << 16;
        if (i + 1 < data.size()) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8;
        if (i + 2 < data.size()) n |= static_cast<unsigned char>(data[i + 2]);
        out += table[(n >> 18) & 63];
        out += table[(n >> 12) & 63];
        out += i + 1 < data.size() ? table[(n >> 6) & 63] : '=';
        out += i + 2 < data.size() ? table[n & 63] : '=';
    }
    return out;
}

std::string armor(const std::string& binary, bool with_checksum = true, const std::string& headers = "Comment: test\n") {
    const std::uint32_t crc = mdcrypt::crc24(binary);
    const std::string crc_bytes{static_cast<char>(crc >> 16), static_cast<char>((crc >> 8) & 0xff), static_cast<char>(crc & 0xff)};
    std::string b64 = base64(binary);
    std::string lines;
    for (std::size_t i = 0; i < b64.size(); i += 64) lines += b64.substr(i, 64) + "\n";
    return "-----BEGIN PGP PUBLIC KEY BLOCK-----\n" + headers + "\n" + lines + (with_checksum ? "=" + base64(crc_bytes) + "\n" : "") +
           "-----END PGP PUBLIC KEY BLOCK-----\n";
}

const std::string kAlice = packet(6, key_body('a')) + packet(13, "Alice <alice@example.test>") + packet(2, "sig") +
                           packet(14, key_body('s')) + packet(2, "binding");
const std::string kBob = packet(6, key_body('b')) + packet(13, "Bob <bob@example.test>") + packet(2, "sig");

}  // namespace

TEST_CASE("a binary key file is cut at each public key packet, with v4 fingerprints") {
    const auto split = split_public_keys(kAlice + kBob);
    REQUIRE(split.ok());
    REQUIRE(split.keys.size() == 2);
    CHECK(split.keys[0].fingerprint == v4_fingerprint(key_body('a')));
    CHECK(split.keys[0].packets == kAlice);
    CHECK(split.keys[1].fingerprint == v4_fingerprint(key_body('b')));
    CHECK(split.keys[1].packets == kBob);
}

TEST_CASE("old-format packet headers and longer lengths are read too") {
    const std::string body = key_body('a');
    const std::string old_two_octet = std::string("\x99\x00", 2) + static_cast<char>(body.size()) + body;  // tag 6, 2-byte length
    const std::string uid(300, 'u');
    const std::string new_two_octet = std::string("\xCD", 1) + static_cast<char>(192 + ((uid.size() - 192) >> 8)) +
                                      static_cast<char>((uid.size() - 192) & 0xff) + uid;
    const std::string new_five_octet = std::string("\xC2\xFF\x00\x00\x00\x03", 6) + "sig";
    const auto split = split_public_keys(old_two_octet + new_two_octet + new_five_octet);
    REQUIRE(split.ok());
    REQUIRE(split.keys.size() == 1);
    CHECK(split.keys[0].fingerprint == v4_fingerprint(body));
    CHECK(split.keys[0].packets.size() == old_two_octet.size() + new_two_octet.size() + new_five_octet.size());
}

TEST_CASE("armored files: one block or several, checksum verified when present, headers skipped") {
    const auto one = split_public_keys(armor(kAlice + kBob));
    REQUIRE(one.ok());
    CHECK(one.keys.size() == 2);
    const auto two = split_public_keys("some text before\r\n" + armor(kAlice) + "\n" + armor(kBob, false, ""));
    REQUIRE(two.ok());
    REQUIRE(two.keys.size() == 2);
    CHECK(two.keys[1].packets == kBob);

    std::string damaged = armor(kAlice);
    damaged[damaged.find('\n', 60) + 5] ^= 1;  // a flipped base64 character in the data
    CHECK_FALSE(split_public_keys(damaged).ok());
}

TEST_CASE("what is not a sequence of public keys is an error that does not quote the file") {
    const std::string secret = "VERY SECRET CONTENT";
    for (const std::string& text : {std::string(), secret, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n" + secret,
                                    "-----BEGIN PGP MESSAGE-----\n\n" + secret + "\n-----END PGP MESSAGE-----\n"}) {
        const auto split = split_public_keys(text);
        CHECK_FALSE(split.ok());
        CHECK(split.keys.empty());
        CHECK_THAT(split.error, !Catch::Contains(secret));
    }
    CHECK_THAT(split_public_keys(packet(5, key_body('x'))).error, Catch::Contains("secret key"));
    CHECK_THAT(split_public_keys(kAlice + packet(7, key_body('y'))).error, Catch::Contains("secret key"));
    CHECK_THAT(split_public_keys(armor(kAlice) + "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n" + secret).error,
               Catch::Contains("secret key"));
    CHECK_THAT(split_public_keys(packet(13, "uid") + kAlice).error, Catch::Contains("does not start with a public key"));
    CHECK_THAT(split_public_keys(kAlice.substr(0, kAlice.size() - 2)).error, Catch::Contains("truncated"));
    CHECK_THAT(split_public_keys(std::string("\xC6\xE1", 2) + key_body('a')).error, Catch::Contains("partial"));
    CHECK_THAT(split_public_keys(std::string("\x9B", 1) + key_body('a')).error, Catch::Contains("indeterminate"));
}

TEST_CASE("keys that are not version 4 have no fingerprint here") {
    std::string v5 = key_body('a');
    v5[0] = 5;
    const auto split = split_public_keys(packet(6, v5));
    REQUIRE(split.ok());
    CHECK(split.keys.at(0).fingerprint.empty());
}
