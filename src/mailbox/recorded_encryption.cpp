#include "mailbox/recorded_encryption.hpp"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

namespace mdcrypt {

namespace {

void write_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(fd, bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw EncryptError(std::string("cannot keep the message for encryption: ") + std::strerror(errno));
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Fills `out` from `fd` at `offset`; returns the bytes read (fewer only at the end of the file).
std::size_t read_at(int fd, std::span<char> out, std::uint64_t offset) {
    std::size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw EncryptError(std::string("cannot read the kept message: ") + std::strerror(errno));
        if (n == 0) break;
        done += static_cast<std::size_t>(n);
    }
    return done;
}

bool same_keys(std::span<const EncryptionKey> a, std::span<const EncryptionKey> b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].fingerprint != b[i].fingerprint) return false;
        if (static_cast<bool>(a[i].key_block) != static_cast<bool>(b[i].key_block)) return false;
        if (a[i].key_block && *a[i].key_block != *b[i].key_block) return false;
    }
    return true;
}

}  // namespace

void RecordingEncryptor::encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink&) {
    RecordedEncryption recorded;
    recorded.plaintext = create_unlinked_file(directory_);
    std::array<char, 65536> chunk{};
    for (std::size_t n; (n = plaintext.read(chunk)) > 0;) {
        write_all(recorded.plaintext.get(), std::string_view(chunk.data(), n));
        recorded.size += n;
    }
    recorded.keys.assign(keys.begin(), keys.end());
    recorded_ = std::move(recorded);
    throw EncryptError("recorded for encryption with the rest of the batch");
}

void ReplayingEncryptor::encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) {
    if (!same_keys(keys, recorded_.keys))
        throw EncryptError("the keys differ from those the batch was encrypted to; the message is left for the next run");
    std::array<char, 65536> chunk{};
    std::array<char, 65536> kept{};
    std::uint64_t offset = 0;
    for (std::size_t n; (n = plaintext.read(chunk)) > 0; offset += n) {
        const std::size_t got = read_at(recorded_.plaintext.get(), std::span<char>(kept.data(), n), offset);
        if (got != n || std::memcmp(chunk.data(), kept.data(), n) != 0)
            throw EncryptError("the message differs from what the batch encrypted; it is left for the next run");
    }
    if (offset != recorded_.size)
        throw EncryptError("the message differs from what the batch encrypted; it is left for the next run");
    auto reader = armored_.reader();
    copy_all(*reader, armored);
}

std::vector<std::string> keyring_fingerprints(const RecordedEncryption& recorded) {
    std::vector<std::string> fingerprints;
    for (const auto& key : recorded.keys) {
        if (key.key_block) return {};
        fingerprints.push_back(key.fingerprint);
    }
    return fingerprints;
}

}  // namespace mdcrypt
