// libFuzzer target for the OpenPGP readers shared by detection, key files and the engine output check:
// the armor reader (core/armor.hpp) under each caller's rules, the packet header reader
// (core/openpgp_packets.hpp), and the streaming check of an engine's output (openpgp_message_check).
// Invariants, checked with abort() so libFuzzer keeps the input:
//   - armor: decoded bytes are at most 3/4 of the input; armor that reads to its END line under a
//     rule that verifies the checksum, armored again with its CRC-24, reads back to the same bytes;
//   - packet headers: a header that reads Ok lies within the input, its tag fits its format;
//   - the output check gives the same verdict however the input is chunked.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/armor.hpp"
#include "core/openpgp_message_check.hpp"
#include "core/openpgp_packets.hpp"

using namespace mdcrypt;

namespace {

void check(bool ok) {
    if (!ok) std::abort();
}

std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        const std::size_t lf = text.find('\n');
        lines.push_back(text.substr(0, lf));
        if (lf == std::string_view::npos) break;
        text.remove_prefix(lf + 1);
    }
    return lines;
}

struct Read {
    std::string data;
    bool done = false;
};

Read read(const ArmorRules& rules, const std::vector<std::string_view>& lines) {
    Read r;
    ArmorReader armor(rules, [&r](std::string_view d) { r.data.append(d); });
    for (const auto line : lines) {
        if (armor.done() || armor.failed()) break;
        armor.line(line);
    }
    r.done = armor.done();
    check(r.done == !armor.finish().has_value());
    return r;
}

std::string armored(std::string_view label, const std::string& data) {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out = "-----BEGIN PGP " + std::string(label) + "-----\n\n";
    std::string line;
    for (std::size_t i = 0; i < data.size(); i += 3) {
        std::uint32_t group = 0;
        const std::size_t n = std::min<std::size_t>(3, data.size() - i);
        for (std::size_t k = 0; k < 3; ++k)
            group = (group << 8) | (k < n ? static_cast<unsigned char>(data[i + k]) : 0u);
        for (std::size_t k = 0; k < 4; ++k) line.push_back(k <= n ? alphabet[(group >> (18 - 6 * k)) & 63] : '=');
        if (line.size() >= 64) {
            out += line + "\n";
            line.clear();
        }
    }
    if (!line.empty()) out += line + "\n";
    const std::uint32_t crc = crc24(data);
    out += "=";
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(alphabet[(crc >> shift) & 63]);
    out += "\n-----END PGP " + std::string(label) + "-----\n";
    return out;
}

void check_armor(std::string_view text) {
    const auto lines = lines_of(text);
    const ArmorRules rule_sets[] = {
        {.label = "MESSAGE", .checksum = ArmorChecksum::Required},
        {.label = "MESSAGE", .max_header_lines = 32, .max_header_bytes = 4096, .checksum = ArmorChecksum::FormOnly},
        {.label = "PUBLIC KEY BLOCK", .blank_line_after_headers = false, .checksum = ArmorChecksum::VerifiedWhenPresent},
    };
    for (const auto& rules : rule_sets) {
        const Read r = read(rules, lines);
        check(r.data.size() <= text.size() * 3 / 4 + 3);
        if (!r.done || rules.checksum == ArmorChecksum::FormOnly) continue;
        const Read again = read(rules, lines_of(armored(rules.label, r.data)));
        check(again.done && again.data == r.data);
    }
}

void check_packet_headers(std::string_view bytes) {
    std::size_t pos = 0;
    for (int n = 0; n < 64 && pos < bytes.size(); ++n) {
        const auto read = read_packet_header(bytes, pos);
        if (read.status != PacketHeaderRead::Status::Ok) return;
        const PacketHeader& h = read.header;
        check(h.header_size >= 1 && pos + h.header_size <= bytes.size());
        check(h.tag >= 0 && h.tag < (h.new_format ? 64 : 16));
        if (!h.body_size) return;
        if (*h.body_size > bytes.size() - pos - h.header_size) return;
        pos += h.header_size + *h.body_size;
    }
}

void check_output(std::string_view text) {
    ArmoredMessageCheck whole;
    whole.feed(text);
    const auto verdict = whole.finish();
    ArmoredMessageCheck pieces;
    for (std::size_t i = 0; i < text.size(); i += 7) pieces.feed(text.substr(i, 7));
    check(pieces.finish() == verdict);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_armor(input);
    check_packet_headers(input);
    check_output(input);
    return 0;
}
