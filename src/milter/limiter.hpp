// A cap on concurrent encryptions: each one starts a gpg process, and a burst of connections must
// queue here instead of forking hundreds of them. The limit can change on reload.
#pragma once

#include <condition_variable>
#include <mutex>
#include <span>
#include <string>

#include "core/encryptor.hpp"

namespace mdcrypt::milter {

// 0 in the config means "twice the number of cores".
unsigned effective_encryption_limit(unsigned configured);

class Limiter {
public:
    explicit Limiter(unsigned limit);
    Limiter(const Limiter&) = delete;
    Limiter& operator=(const Limiter&) = delete;

    // Held while one encryption runs; released on destruction.
    class Permit {
    public:
        explicit Permit(Limiter& owner) : owner_(&owner) {}
        Permit(Permit&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
        Permit(const Permit&) = delete;
        Permit& operator=(const Permit&) = delete;
        Permit& operator=(Permit&&) = delete;
        ~Permit();

    private:
        Limiter* owner_;
    };

    Permit acquire();  // blocks while `limit()` permits are out
    void set_limit(unsigned limit);  // a lower limit lets running holders finish; minimum 1
    unsigned limit() const;
    unsigned in_use() const;
    unsigned peak() const;  // the most permits ever out at once (tests, logs)

private:
    void release();

    mutable std::mutex mutex_;
    std::condition_variable available_;
    unsigned limit_;
    unsigned in_use_ = 0;
    unsigned peak_ = 0;
};

// An Encryptor that holds a permit while the inner one runs, so only the encryption itself is
// throttled (not parsing, key lookup or sending the result back).
class ThrottledEncryptor final : public Encryptor {
public:
    ThrottledEncryptor(Encryptor& inner, Limiter& limiter) : inner_(inner), limiter_(limiter) {}
    // Forwarded as it is, so keys from key files (key blocks) reach the inner encryptor.
    void encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) override;

private:
    Encryptor& inner_;
    Limiter& limiter_;
};

}  // namespace mdcrypt::milter
