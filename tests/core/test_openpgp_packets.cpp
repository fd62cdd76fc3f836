// The one OpenPGP packet header reader: every length form of both formats, and where it stops.
#include "core/openpgp_packets.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace mdcrypt;
using Status = PacketHeaderRead::Status;

namespace {

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) out.push_back(static_cast<char>(v));
    return out;
}

}  // namespace

TEST_CASE("old format: one, two and four length octets, and the indeterminate length") {
    const auto one = read_packet_header(bytes({0x98, 0x05}), 0);  // tag 6, 1 octet
    REQUIRE(one.status == Status::Ok);
    CHECK(one.header.tag == 6);
    CHECK_FALSE(one.header.new_format);
    CHECK(one.header.header_size == 2);
    CHECK(one.header.body_size == 5u);
    const auto two = read_packet_header(bytes({0x85, 0x01, 0x02}), 0);  // tag 1, 2 octets
    REQUIRE(two.status == Status::Ok);
    CHECK(two.header.tag == 1);
    CHECK(two.header.body_size == 0x102u);
    const auto four = read_packet_header(bytes({0x86, 0x00, 0x01, 0x00, 0x00}), 0);
    REQUIRE(four.status == Status::Ok);
    CHECK(four.header.header_size == 5);
    CHECK(four.header.body_size == 0x10000u);
    const auto indeterminate = read_packet_header(bytes({0xA7}), 0);  // tag 9, type 3
    REQUIRE(indeterminate.status == Status::Ok);
    CHECK(indeterminate.header.tag == 9);
    CHECK_FALSE(indeterminate.header.body_size);
}

TEST_CASE("new format: one, two and five octet lengths, and a partial body length") {
    const auto one = read_packet_header(bytes({0xD2, 0xBF}), 0);  // tag 18
    REQUIRE(one.status == Status::Ok);
    CHECK(one.header.new_format);
    CHECK(one.header.tag == 18);
    CHECK(one.header.body_size == 191u);
    const auto two = read_packet_header(bytes({0xC1, 0xC0, 0x00}), 0);
    REQUIRE(two.status == Status::Ok);
    CHECK(two.header.header_size == 3);
    CHECK(two.header.body_size == 192u);
    const auto five = read_packet_header(bytes({0xC1, 0xFF, 0x00, 0x01, 0x00, 0x00}), 0);
    REQUIRE(five.status == Status::Ok);
    CHECK(five.header.header_size == 6);
    CHECK(five.header.body_size == 0x10000u);
    const auto partial = read_packet_header(bytes({0xD2, 0xE0}), 0);
    REQUIRE(partial.status == Status::Ok);
    CHECK(partial.header.header_size == 2);
    CHECK_FALSE(partial.header.body_size);
}

TEST_CASE("not a packet, truncated length octets, and a position past the end") {
    CHECK(read_packet_header(bytes({0x45}), 0).status == Status::NotAPacket);
    CHECK(read_packet_header(bytes({0x98}), 0).status == Status::Truncated);
    CHECK(read_packet_header(bytes({0x86, 0x00, 0x01}), 0).status == Status::Truncated);
    CHECK(read_packet_header(bytes({0xC1}), 0).status == Status::Truncated);
    CHECK(read_packet_header(bytes({0xC1, 0xC5}), 0).status == Status::Truncated);
    CHECK(read_packet_header(bytes({0xC1, 0xFF, 0, 0}), 0).status == Status::Truncated);
    CHECK(read_packet_header(bytes({0x98, 0x05}), 2).status == Status::NotAPacket);
    // Whether the body fits is the caller's question: a header promising more than there is reads.
    CHECK(read_packet_header(bytes({0x98, 0x05}), 0).status == Status::Ok);
    // At an offset.
    const auto at = read_packet_header(bytes({0x00, 0x98, 0x01, 0x00}), 1);
    REQUIRE(at.status == Status::Ok);
    CHECK(at.header.body_size == 1u);
}
