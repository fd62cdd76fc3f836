// The one reader of OpenPGP packet headers (RFC 9580 section 4.2), old and new format. Callers keep
// their policy: detection follows partial lengths, key files refuse them.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace mdcrypt {

struct PacketHeader {
    int tag = 0;
    bool new_format = false;
    std::size_t header_size = 0;
    // nullopt: a new-format partial body length (the first chunk is 2^(octet 1 & 0x1F) bytes) or an
    // old-format indeterminate length (to the end of the data).
    std::optional<std::size_t> body_size;
};

struct PacketHeaderRead {
    enum class Status { Ok, NotAPacket, Truncated };
    Status status = Status::NotAPacket;
    PacketHeader header;  // when Ok
};

// The header at `pos` of `bytes`. NotAPacket: the first octet lacks bit 7 (or pos is past the end);
// Truncated: the length octets go past the end. Whether the body fits is the caller's question.
PacketHeaderRead read_packet_header(std::string_view bytes, std::size_t pos);

}  // namespace mdcrypt
