#include "core/openpgp_keys.hpp"

#include <array>
#include <cstdint>
#include <optional>

#include "core/armor.hpp"
#include "core/openpgp_packets.hpp"
#include "core/sha1.hpp"
#include "core/text.hpp"

namespace mdcrypt {

namespace {

constexpr std::string_view kBegin = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
constexpr std::string_view kBeginSecret = "-----BEGIN PGP PRIVATE KEY BLOCK-----";
constexpr const char* kSecretKeyMaterial = "it holds secret key material; only public keys belong there";

constexpr int kTagSecretKey = 5;
constexpr int kTagPublicKey = 6;
constexpr int kTagSecretSubkey = 7;

// Splits at LF; CR before it is trimmed with trailing white space.
std::vector<std::string_view> lines_of(std::string_view text) {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        const std::size_t lf = text.find('\n');
        lines.push_back(trim_right(text.substr(0, lf)));
        if (lf == std::string_view::npos) break;
        text.remove_prefix(lf + 1);
    }
    return lines;
}

// Every public key armor block's payload, concatenated. nullopt with `error` set on a broken block.
// Text between blocks is skipped, as gpg skips it.
std::optional<std::string> dearmor(std::string_view text, std::string& error) {
    const auto lines = lines_of(text);
    for (const auto& line : lines)
        if (line == kBeginSecret) {
            error = kSecretKeyMaterial;
            return std::nullopt;
        }
    std::string binary;
    bool any = false;
    const ArmorRules rules{.label = "PUBLIC KEY BLOCK", .blank_line_after_headers = false,
                           .checksum = ArmorChecksum::VerifiedWhenPresent};
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i] != kBegin) continue;
        any = true;
        ArmorReader armor(rules, [&binary](std::string_view data) { binary.append(data); });
        for (; i < lines.size() && !armor.done() && !armor.failed(); ++i) armor.line(lines[i]);
        --i;
        if (const auto why = armor.finish()) {
            error = "armor block: " + *why;
            return std::nullopt;
        }
    }
    if (!any) {
        error = "neither a binary OpenPGP key nor an armored public key block";
        return std::nullopt;
    }
    return binary;
}

struct Packet {
    int tag = 0;
    std::size_t header_size = 0;
    std::size_t body_size = 0;
};

// A key file's packet: whole, with a definite length (keys never use partial or indeterminate ones).
std::optional<Packet> read_header(std::string_view data, std::size_t at, std::string& error) {
    const PacketHeaderRead read = read_packet_header(data, at);
    if (read.status == PacketHeaderRead::Status::NotAPacket) {
        error = "not an OpenPGP packet at byte " + std::to_string(at);
        return std::nullopt;
    }
    const std::string truncated = "truncated OpenPGP packet at byte " + std::to_string(at);
    if (read.status == PacketHeaderRead::Status::Truncated) {
        error = truncated;
        return std::nullopt;
    }
    const PacketHeader& h = read.header;
    if (!h.body_size) {
        error = h.new_format ? "a packet with partial body lengths, which keys never have"
                             : "a packet of indeterminate length, which keys never have";
        return std::nullopt;
    }
    if (*h.body_size > data.size() - at - h.header_size) {
        error = truncated;
        return std::nullopt;
    }
    return Packet{h.tag, h.header_size, *h.body_size};
}

// v4 fingerprint: SHA-1 over 0x99, the two-byte body length and the public key packet body.
std::string fingerprint_of(std::string_view body) {
    if (body.empty() || body[0] != 4 || body.size() > 0xffff) return {};
    Sha1 h;
    const char prefix[3] = {static_cast<char>(0x99), static_cast<char>((body.size() >> 8) & 0xff),
                            static_cast<char>(body.size() & 0xff)};
    h.update(std::string_view(prefix, 3));
    h.update(body);
    return to_hex_upper(h.digest());
}

}  // namespace

SplitKeys split_public_keys(std::string_view file_bytes) {
    SplitKeys result;
    if (file_bytes.empty()) {
        result.error = "the file is empty";
        return result;
    }
    std::string binary;
    if (static_cast<unsigned char>(file_bytes.front()) & 0x80) {
        binary = std::string(file_bytes);
    } else if (auto decoded = dearmor(file_bytes, result.error)) {
        binary = std::move(*decoded);
    } else {
        return result;
    }
    if (binary.empty()) {
        result.error = "the armor holds no data";
        return result;
    }
    for (std::size_t at = 0; at < binary.size();) {
        const auto packet = read_header(binary, at, result.error);
        if (!packet) {
            result.keys.clear();
            return result;
        }
        const std::size_t size = packet->header_size + packet->body_size;
        if (packet->tag == kTagSecretKey || packet->tag == kTagSecretSubkey) {
            result.keys.clear();
            result.error = kSecretKeyMaterial;
            return result;
        }
        if (packet->tag == kTagPublicKey) {
            result.keys.push_back(
                {fingerprint_of(std::string_view(binary).substr(at + packet->header_size, packet->body_size)), {}});
        } else if (result.keys.empty()) {
            result.error = "it does not start with a public key packet";
            return result;
        }
        result.keys.back().packets.append(binary, at, size);
        at += size;
    }
    return result;
}

}  // namespace mdcrypt
