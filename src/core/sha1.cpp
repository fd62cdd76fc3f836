#include "core/sha1.hpp"

#include <gcrypt.h>

#include <cstring>
#include <stdexcept>


namespace mdcrypt {

namespace {

// libgcrypt must be initialised once before first use; a function-local static makes that happen
// exactly once even when several milter threads hash at the same time.
void ensure_gcrypt() {
    static const bool ready = [] {
        if (gcry_check_version(GCRYPT_VERSION) == nullptr)
            throw std::runtime_error(std::string("libgcrypt ") + gcry_check_version(nullptr) + " is older than the " +
                                     GCRYPT_VERSION + " this program was built with");
        // Only public data is hashed here: no secure memory (and no warning about lacking it).
        if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
            gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
            gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
        }
        return true;
    }();
    (void)ready;
}

}  // namespace

Sha1::Sha1() : handle_(nullptr) {
    ensure_gcrypt();
    if (const gcry_error_t err = gcry_md_open(&handle_, GCRY_MD_SHA1, 0); err != 0)
        throw std::runtime_error(std::string("libgcrypt cannot hash with SHA-1: ") + gcry_strerror(err));
}

Sha1::~Sha1() { gcry_md_close(handle_); }

void Sha1::update(std::string_view data) { gcry_md_write(handle_, data.data(), data.size()); }

Sha1Digest Sha1::digest() {
    Sha1Digest out{};
    std::memcpy(out.data(), gcry_md_read(handle_, GCRY_MD_SHA1), out.size());
    return out;
}

Sha1Digest sha1(std::string_view data) {
    ensure_gcrypt();
    Sha1Digest out{};
    gcry_md_hash_buffer(GCRY_MD_SHA1, out.data(), data.data(), data.size());
    return out;
}

std::string to_hex_upper(const Sha1Digest& digest) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const std::uint8_t b : digest) {
        out.push_back(hex[b >> 4]);
        out.push_back(hex[b & 15]);
    }
    return out;
}

}  // namespace mdcrypt
