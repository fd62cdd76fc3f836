// How many MTA connections are served at once ([milter] max_connections). libmilter starts a thread
// per connection and keeps it while the MTA holds the connection open, idle or not; without a bound
// 2,000 idle connections cost 1,339 threads. Over the bound a new connection is answered with a
// tempfail at connect (the MTA then applies milter_default_action = tempfail: mail is deferred, never
// passed), and that is logged at most once per period with how many were turned away.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>

namespace mdcrypt::milter {

class ConnectionLimit {
public:
    // One connection's place; given back when destroyed.
    class Slot {
    public:
        Slot(Slot&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
        Slot& operator=(Slot&& other) noexcept;
        Slot(const Slot&) = delete;
        Slot& operator=(const Slot&) = delete;
        ~Slot();

    private:
        friend class ConnectionLimit;
        explicit Slot(ConnectionLimit* owner) : owner_(owner) {}
        ConnectionLimit* owner_;
    };

    // A slot when fewer than `limit` are held; nullopt otherwise (the refusal is counted).
    std::optional<Slot> try_acquire(std::size_t limit);
    std::size_t held() const { return held_.load(); }

    // Whether refusals are to be logged now: the number refused since the last report when at least
    // `period` has passed since it (or none was made yet), else nullopt.
    std::optional<std::uint64_t> refusals_to_report(std::chrono::steady_clock::time_point now,
                                                    std::chrono::steady_clock::duration period);

private:
    std::atomic<std::size_t> held_{0};
    std::mutex mutex_;  // the report state below
    std::uint64_t refused_ = 0;
    std::optional<std::chrono::steady_clock::time_point> last_report_;
};

}  // namespace mdcrypt::milter
