#include "milter/limiter.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/metrics.hpp"

namespace mdcrypt::milter {

unsigned effective_encryption_limit(unsigned configured) {
    if (configured != 0) return configured;
    return std::max(2u, 2 * std::thread::hardware_concurrency());
}

Limiter::Limiter(unsigned limit) : limit_(std::max(1u, limit)) {}

Limiter::Permit::~Permit() {
    if (owner_) owner_->release();
}

Limiter::Permit Limiter::acquire() {
    const auto asked = std::chrono::steady_clock::now();
    std::unique_lock lock(mutex_);
    available_.wait(lock, [this] { return in_use_ < limit_; });
    ++in_use_;
    peak_ = std::max(peak_, in_use_);
    lock.unlock();
    metrics().slot_wait(std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count());
    return Permit(*this);
}

void Limiter::release() {
    {
        std::lock_guard lock(mutex_);
        --in_use_;
    }
    available_.notify_one();
}

void Limiter::set_limit(unsigned limit) {
    {
        std::lock_guard lock(mutex_);
        limit_ = std::max(1u, limit);
    }
    available_.notify_all();
}

unsigned Limiter::limit() const {
    std::lock_guard lock(mutex_);
    return limit_;
}

unsigned Limiter::in_use() const {
    std::lock_guard lock(mutex_);
    return in_use_;
}

unsigned Limiter::peak() const {
    std::lock_guard lock(mutex_);
    return peak_;
}

void ThrottledEncryptor::encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) {
    const Limiter::Permit permit = limiter_.acquire();
    inner_.encrypt_to(plaintext, keys, armored);
}

}  // namespace mdcrypt::milter
