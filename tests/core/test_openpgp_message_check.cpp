// The streaming check of an engine's output: a whole armored encrypted message passes in any
// chunking; every cut, a wrong checksum, a missing line or stray data is refused with a reason.
#include "core/openpgp_message_check.hpp"

#include <catch2/catch.hpp>

#include "core/armor.hpp"

#include <string>

#include "core/openpgp_keys.hpp"

using namespace mdcrypt;

namespace {

std::string base64(std::string_view in) {
    static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const auto v = (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16) |
                       (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6) out.push_back(k[(v >> s) & 63]);
    }
    if (in.size() - i == 1) {
        const auto v = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
        out += std::string{k[(v >> 18) & 63], k[(v >> 12) & 63], '=', '='};
    } else if (in.size() - i == 2) {
        const auto v = (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16) |
                       (static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8);
        out += std::string{k[(v >> 18) & 63], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
    }
    return out;
}

std::string armor(std::string_view binary, bool with_checksum = true) {
    std::string text = "-----BEGIN PGP MESSAGE-----\n\n";
    const std::string b64 = base64(binary);
    for (std::size_t i = 0; i < b64.size(); i += 64) text += b64.substr(i, 64) + "\n";
    if (with_checksum) {
        const std::uint32_t crc = crc24(binary);
        const std::string raw{static_cast<char>(crc >> 16), static_cast<char>((crc >> 8) & 0xff), static_cast<char>(crc & 0xff)};
        text += "=" + base64(raw) + "\n";
    }
    return text + "-----END PGP MESSAGE-----\n";
}

// Old-format PKESK (tag 1, one length octet) as gpg writes it.
std::string session_key_packet(std::size_t body = 94) { return std::string{char(0x84), char(body)} + std::string(body, 'k'); }

// New-format SEIPD (tag 18) of `size` bytes: partial chunks of 512 then a final chunk.
std::string data_packet(std::size_t size) {
    std::string p{char(0xC0 | 18)};
    while (size > 512) {
        p += char(0xE9);  // partial: 2^9 = 512
        p += std::string(512, 'd');
        size -= 512;
    }
    if (size < 192) {
        p += char(size);
    } else {
        p += char(((size - 192) >> 8) + 192);
        p += char((size - 192) & 0xff);
    }
    return p + std::string(size, 'e');
}

std::optional<std::string> check(std::string_view text, std::size_t chunk = 1 << 20) {
    ArmoredMessageCheck c;
    for (std::size_t i = 0; i < text.size(); i += chunk) c.feed(text.substr(i, chunk));
    return c.finish();
}

}  // namespace

TEST_CASE("a whole armored encrypted message passes, fed in any chunking") {
    const std::string binary = session_key_packet() + session_key_packet(60) + data_packet(1500);
    const std::string text = armor(binary);
    for (std::size_t chunk : {1u, 2u, 3u, 7u, 64u, 65u, 1000u, 1u << 20}) {
        INFO("chunk " << chunk);
        CHECK_FALSE(check(text, chunk));
    }
    CHECK_FALSE(check(armor(session_key_packet() + data_packet(10))));     // a final chunk only
    CHECK_FALSE(check(armor(session_key_packet() + data_packet(1024))));  // two partial chunks, empty final one
    std::string crlf;
    for (char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    CHECK_FALSE(check(crlf));
    CHECK_FALSE(check("\n" + text.substr(0, 28) + "Version: GnuPG v2\n" + text.substr(28) + "\n\n"));
}

TEST_CASE("output cut anywhere is refused") {
    const std::string binary = session_key_packet() + data_packet(700);
    const std::string text = armor(binary);
    for (std::size_t size = 0; size < text.size() - 1; ++size) {  // the last byte is the final newline
        INFO("cut to " << size << " of " << text.size());
        CHECK(check(text.substr(0, size)));
    }
    // Valid armor around packets that stop early: the checksum matches, the packets do not.
    for (std::size_t size : {std::size_t{1}, std::size_t{50}, std::size_t{96}, std::size_t{97}, std::size_t{99},
                             std::size_t{600}, binary.size() - 1}) {
        INFO("packets cut to " << size);
        const auto error = check(armor(binary.substr(0, size)));
        REQUIRE(error);
        CHECK_THAT(*error, Catch::Contains("ends inside a packet") || Catch::Contains("no encrypted data packet"));
    }
}

TEST_CASE("a wrong or missing checksum, stray data and wrong packets are refused") {
    const std::string binary = session_key_packet() + data_packet(300);
    const std::string text = armor(binary);
    std::string bad_crc = text;
    const auto eq = bad_crc.find("\n=") + 2;
    bad_crc[eq] = bad_crc[eq] == 'A' ? 'B' : 'A';
    CHECK_THAT(*check(bad_crc), Catch::Contains("checksum does not match"));
    CHECK_THAT(*check(armor(binary, false)), Catch::Contains("no armor checksum"));
    CHECK_THAT(*check(text + "junk\n"), Catch::Contains("after the END line"));
    CHECK_THAT(*check("junk\n" + text), Catch::Contains("does not begin"));
    CHECK_THAT(*check(armor(data_packet(300))), Catch::Contains("without a session key"));
    CHECK_THAT(*check(armor(binary + session_key_packet())), Catch::Contains("after the encrypted data"));
    CHECK_THAT(*check(armor(session_key_packet() + std::string{char(0xCB), char(3)} + "lit")), Catch::Contains("tag 11"));
    CHECK_THAT(*check(armor(binary + "x")), Catch::Contains("not an OpenPGP packet"));
    CHECK_THAT(*check(std::string(5000, 'A')), Catch::Contains("longer than"));
    CHECK_THAT(*check(""), Catch::Contains("no armored message"));
    std::string bad_char = text;
    bad_char[40] = '!';
    CHECK(check(bad_char));
}
