#include "core/openpgp_packets.hpp"

#include <cstdint>

namespace mdcrypt {

PacketHeaderRead read_packet_header(std::string_view bytes, std::size_t pos) {
    using Status = PacketHeaderRead::Status;
    if (pos >= bytes.size()) return {Status::NotAPacket, {}};
    auto byte = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<std::uint8_t>(bytes[pos + i])); };
    const std::size_t available = bytes.size() - pos;
    const std::size_t ctb = byte(0);
    if ((ctb & 0x80) == 0) return {Status::NotAPacket, {}};
    auto big_endian = [&](std::size_t from, std::size_t count) {
        std::size_t v = 0;
        for (std::size_t i = 0; i < count; ++i) v = (v << 8) | byte(from + i);
        return v;
    };
    PacketHeader h;
    h.new_format = (ctb & 0x40) != 0;
    if (h.new_format) {
        h.tag = static_cast<int>(ctb & 0x3F);
        if (available < 2) return {Status::Truncated, {}};
        const std::size_t l1 = byte(1);
        if (l1 < 192) {
            h.header_size = 2;
            h.body_size = l1;
        } else if (l1 < 224) {
            if (available < 3) return {Status::Truncated, {}};
            h.header_size = 3;
            h.body_size = ((l1 - 192) << 8) + byte(2) + 192;
        } else if (l1 == 255) {
            if (available < 6) return {Status::Truncated, {}};
            h.header_size = 6;
            h.body_size = big_endian(2, 4);
        } else {
            h.header_size = 2;  // partial body length
        }
    } else {
        h.tag = static_cast<int>((ctb >> 2) & 0x0F);
        const std::size_t type = ctb & 3;
        const std::size_t length_bytes = type == 3 ? 0 : std::size_t{1} << type;  // 1, 2, 4; 3: indeterminate
        if (available < 1 + length_bytes) return {Status::Truncated, {}};
        h.header_size = 1 + length_bytes;
        if (length_bytes > 0) h.body_size = big_endian(1, length_bytes);
    }
    return {Status::Ok, h};
}

}  // namespace mdcrypt
