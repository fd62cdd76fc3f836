#include "core/wkd.hpp"

#include <cstdint>

#include "core/header.hpp"
#include "core/sha1.hpp"
#include "core/text.hpp"

namespace mdcrypt {

std::string zbase32_encode(std::string_view bytes) {
    static constexpr char alphabet[] = "ybndrfg8ejkmcpqxot1uwisza345h769";
    std::string out;
    out.reserve((bytes.size() * 8 + 4) / 5);
    std::uint32_t bits = 0;  // pending bits, right-aligned
    int count = 0;           // how many are pending
    for (char c : bytes) {
        bits = (bits << 8) | static_cast<unsigned char>(c);
        count += 8;
        while (count >= 5) {
            count -= 5;
            out.push_back(alphabet[(bits >> count) & 31]);
        }
        bits &= (1u << count) - 1;
    }
    if (count > 0) out.push_back(alphabet[(bits << (5 - count)) & 31]);
    return out;
}

std::string wkd_hash(std::string_view local_part) {
    const Sha1Digest digest = sha1(to_lower_ascii(local_part));
    return zbase32_encode(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

}  // namespace mdcrypt
