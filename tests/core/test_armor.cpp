// The one ASCII armor reader, under each of the three rule sets its callers use.
#include "core/armor.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace mdcrypt;

namespace {

constexpr ArmorRules kEngineOutput{.label = "MESSAGE", .checksum = ArmorChecksum::Required};
constexpr ArmorRules kInspection{.label = "MESSAGE", .max_header_lines = 2, .max_header_bytes = 40,
                                 .checksum = ArmorChecksum::FormOnly};
constexpr ArmorRules kKeyFile{.label = "PUBLIC KEY BLOCK", .blank_line_after_headers = false,
                              .checksum = ArmorChecksum::VerifiedWhenPresent};

// "Man" in base64 is "TWFu"; "Ma" is "TWE=". The checksum line of the bytes "ManMa".
std::string checksum_line(const std::string& data) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const std::uint32_t crc = crc24(data);
    std::string line = "=";
    for (int shift = 18; shift >= 0; shift -= 6) line.push_back(alphabet[(crc >> shift) & 63]);
    return line;
}

struct Read {
    std::string data;
    std::optional<std::string> error;
    bool done = false;
};

Read read(const ArmorRules& rules, const std::vector<std::string>& lines) {
    Read r;
    ArmorReader armor(rules, [&r](std::string_view d) { r.data.append(d); });
    for (const auto& line : lines) armor.line(line);
    r.error = armor.finish();
    r.done = armor.done();
    return r;
}

const std::string kBegin = "-----BEGIN PGP MESSAGE-----";
const std::string kEnd = "-----END PGP MESSAGE-----";

}  // namespace

TEST_CASE("CRC-24 as OpenPGP armor uses it, at once or in pieces") {
    CHECK(crc24("") == 0xB704CEu);
    CHECK(crc24("123456789") == 0x21CF02u);  // the CRC-24/OpenPGP check value
    CHECK(crc24_update(crc24("1234"), "56789") == 0x21CF02u);
    CHECK(armor_checksum_value(checksum_line("ManMa")) == crc24("ManMa"));
    CHECK_FALSE(armor_checksum_value("=AB!C"));
    CHECK_FALSE(armor_checksum_value("TWFu"));
}

TEST_CASE("CRC-24 equals RFC 4880's bit-by-bit definition for every length and split") {
    // RFC 4880 6.1, one bit at a time: the reference the table-driven code must match.
    const auto reference = [](std::string_view data) {
        std::uint32_t crc = 0xB704CEu;
        for (const char c : data) {
            crc ^= static_cast<std::uint32_t>(static_cast<unsigned char>(c)) << 16;
            for (int i = 0; i < 8; ++i) {
                crc <<= 1;
                if (crc & 0x1000000u) crc ^= 0x1864CFBu;
            }
        }
        return crc & 0xFFFFFFu;
    };
    std::string data;
    std::uint32_t seed = 12345;
    for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>((seed = seed * 1103515245u + 12345u) >> 24));
    for (std::size_t size = 0; size <= data.size(); size += size < 40 ? 1 : 37) {
        const std::string_view part(data.data(), size);
        CAPTURE(size);
        CHECK(crc24(part) == reference(part));
        CHECK(crc24_update(crc24(part.substr(0, size / 3)), part.substr(size / 3)) == reference(part));
    }
}

TEST_CASE("a whole armor decodes, with headers, CR line ends and trailing blanks ignored") {
    const auto r = read(kEngineOutput, {"", kBegin + "\r", "Version: x", "", "TWFu", "TWE= ", checksum_line("ManMa"), kEnd});
    CHECK(r.done);
    CHECK_FALSE(r.error);
    CHECK(r.data == "ManMa");
}

TEST_CASE("engine output: the checksum is required and must match, the armor must be whole") {
    CHECK_THAT(*read(kEngineOutput, {kBegin, "", "TWFu", kEnd}).error, Catch::Contains("no armor checksum"));
    CHECK_THAT(*read(kEngineOutput, {kBegin, "", "TWFu", checksum_line("Mam"), kEnd}).error, Catch::Contains("does not match"));
    CHECK_THAT(*read(kEngineOutput, {kBegin, "", "TWFu"}).error, Catch::Contains("cut off before its checksum"));
    CHECK_THAT(*read(kEngineOutput, {kBegin, "", "TWFu", checksum_line("Man")}).error, Catch::Contains("before its END line"));
    CHECK_THAT(*read(kEngineOutput, {kBegin, "", "TWFu", checksum_line("Man"), "TWFu"}).error, Catch::Contains("no END line"));
    CHECK_THAT(*read(kEngineOutput, {"junk", kBegin}).error, Catch::Contains("does not begin"));
    CHECK_THAT(*read(kEngineOutput, {}).error, Catch::Contains("no armored message"));
}

TEST_CASE("base64 in armor: whole groups, padding only at the end, nothing outside the alphabet") {
    const auto sum = checksum_line("Ma");
    CHECK_THAT(*read(kEngineOutput, {kBegin, "", "TWE", sum, kEnd}).error, Catch::Contains("middle of a group"));
    CHECK_THAT(*read(kEngineOutput, {kBegin, "", "T===", sum, kEnd}).error, Catch::Contains("misplaced base64 padding"));
    CHECK_THAT(*read(kEngineOutput, {kBegin, "", "TWE=", "TWFu", sum, kEnd}).error, Catch::Contains("after padding"));
    CHECK_THAT(*read(kEngineOutput, {kBegin, "", "TW!u", sum, kEnd}).error, Catch::Contains("not base64"));
    CHECK_THAT(*read(kEngineOutput, {kBegin, "", "TWFu", "=AB!C", kEnd}).error, Catch::Contains("malformed armor checksum"));
}

TEST_CASE("inspection: bounded headers, the checksum's form only, a missing checksum accepted") {
    const auto r = read(kInspection, {kBegin, "", "TWFu", checksum_line("something else"), kEnd});
    CHECK(r.done);
    CHECK(r.data == "Man");
    CHECK(read(kInspection, {kBegin, "", "TWFu", kEnd}).done);
    CHECK_THAT(*read(kInspection, {kBegin, "A: 1", "B: 2", "C: 3", ""}).error, Catch::Contains("headers longer"));
    CHECK_THAT(*read(kInspection, {kBegin, "Comment: " + std::string(40, 'x'), ""}).error, Catch::Contains("headers longer"));
    CHECK_THAT(*read(kInspection, {kBegin, "TWFu", "", kEnd}).error, Catch::Contains("malformed armor header"));
}

TEST_CASE("key files: data may follow the headers without a blank line, a present checksum must match") {
    const std::string begin = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
    const std::string end = "-----END PGP PUBLIC KEY BLOCK-----";
    const auto r = read(kKeyFile, {begin, "Comment: no blank line follows", "TWFu", end});
    CHECK(r.done);
    CHECK(r.data == "Man");
    CHECK(read(kKeyFile, {begin, "", "TWFu", checksum_line("Man"), end}).done);
    CHECK_THAT(*read(kKeyFile, {begin, "", "TWFu", checksum_line("Mam"), end}).error, Catch::Contains("does not match"));
    CHECK_THAT(*read(kKeyFile, {begin, "", "TWFu", kEnd}).error, Catch::Contains("not base64"));  // another label's END is no END
}
