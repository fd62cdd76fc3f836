#include "core/bytes.hpp"

#include <algorithm>
#include <array>

namespace mdcrypt {

std::size_t StringSource::read(std::span<char> out) {
    const std::size_t n = std::min(out.size(), data_.size());
    std::copy_n(data_.data(), n, out.data());
    data_.remove_prefix(n);
    return n;
}

std::size_t ConcatSource::read(std::span<char> out) {
    while (current_ < parts_.size()) {
        const std::size_t n = parts_[current_]->read(out);
        if (n > 0) return n;
        ++current_;
    }
    return 0;
}

std::size_t copy_all(ByteSource& from, ByteSink& to) {
    std::array<char, 64 * 1024> buffer{};
    std::size_t total = 0;
    while (const std::size_t n = from.read(buffer)) {
        to.write(std::string_view(buffer.data(), n));
        total += n;
    }
    return total;
}

std::string read_prefix(ByteSource& from, std::size_t limit) {
    std::string prefix;
    std::array<char, 16 * 1024> chunk{};
    while (prefix.size() < limit) {
        const std::size_t n = from.read(std::span<char>(chunk.data(), std::min(chunk.size(), limit - prefix.size())));
        if (n == 0) break;
        prefix.append(chunk.data(), n);
    }
    return prefix;
}

std::string read_all(ByteSource& from) {
    std::string result;
    StringSink sink(result);
    copy_all(from, sink);
    return result;
}

}  // namespace mdcrypt
