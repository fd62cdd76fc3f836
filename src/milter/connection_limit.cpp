#include "milter/connection_limit.hpp"

namespace mdcrypt::milter {

ConnectionLimit::Slot::~Slot() {
    if (owner_) --owner_->held_;
}

ConnectionLimit::Slot& ConnectionLimit::Slot::operator=(Slot&& other) noexcept {
    if (this != &other) {
        if (owner_) --owner_->held_;
        owner_ = other.owner_;
        other.owner_ = nullptr;
    }
    return *this;
}

std::optional<ConnectionLimit::Slot> ConnectionLimit::try_acquire(std::size_t limit) {
    std::size_t current = held_.load();
    while (current < limit)
        if (held_.compare_exchange_weak(current, current + 1)) return Slot(this);
    const std::lock_guard lock(mutex_);
    ++refused_;
    return std::nullopt;
}

std::optional<std::uint64_t> ConnectionLimit::refusals_to_report(std::chrono::steady_clock::time_point now,
                                                                 std::chrono::steady_clock::duration period) {
    const std::lock_guard lock(mutex_);
    if (refused_ == 0 || (last_report_ && now - *last_report_ < period)) return std::nullopt;
    last_report_ = now;
    const std::uint64_t n = refused_;
    refused_ = 0;
    return n;
}

}  // namespace mdcrypt::milter
