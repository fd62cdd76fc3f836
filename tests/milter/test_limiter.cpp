#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/bytes.hpp"
#include "fakes.hpp"
#include "milter/limiter.hpp"

using namespace mdcrypt;
using namespace mdcrypt::milter;

namespace {

// Counts how many encryptions run at the same moment.
class SlowEncryptor final : public Encryptor {
public:
    void encrypt_to(ByteSource&, std::span<const EncryptionKey>, ByteSink& armored) override {
        const int now = ++running;
        int seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        --running;
        armored.write("x");
    }
    std::atomic<int> running{0};
    std::atomic<int> peak{0};
};

// Records the keys it was given, key blocks included.
class KeyBlockEncryptor final : public Encryptor {
public:
    void encrypt_to(ByteSource&, std::span<const EncryptionKey> keys, ByteSink& armored) override {
        seen.assign(keys.begin(), keys.end());
        permits_during = limiter ? limiter->in_use() : 0;
        armored.write("x");
    }
    std::vector<EncryptionKey> seen;
    const Limiter* limiter = nullptr;
    unsigned permits_during = 0;
};

}  // namespace

TEST_CASE("keys from key files reach the inner encryptor through the throttle, under a permit") {
    Limiter limiter(2);
    KeyBlockEncryptor inner;
    inner.limiter = &limiter;
    ThrottledEncryptor throttled(inner, limiter);
    StringSource in("m");
    std::string out;
    StringSink sink(out);
    const std::vector<EncryptionKey> keys{{"AAAA", std::make_shared<const std::string>("key block")}, {"BBBB", nullptr}};
    throttled.encrypt_to(in, keys, sink);
    REQUIRE(inner.seen.size() == 2);
    CHECK(inner.seen[0].fingerprint == "AAAA");
    REQUIRE(inner.seen[0].key_block);
    CHECK(*inner.seen[0].key_block == "key block");
    CHECK(inner.permits_during == 1);
    CHECK(limiter.in_use() == 0);
}

TEST_CASE("0 means twice the cores, at least 2, other values are taken as they are") {
    CHECK(effective_encryption_limit(0) >= 2);
    CHECK(effective_encryption_limit(0) == std::max(2u, 2 * std::thread::hardware_concurrency()));
    CHECK(effective_encryption_limit(3) == 3);
}

TEST_CASE("no more than the limit of encryptions run at once, the rest queue") {
    Limiter limiter(3);
    SlowEncryptor inner;
    std::vector<std::thread> threads;
    for (int i = 0; i < 12; ++i)
        threads.emplace_back([&] {
            ThrottledEncryptor throttled(inner, limiter);
            StringSource in("m");
            std::string out;
            StringSink sink(out);
            const std::string fpr = "F";
            throttled.encrypt(in, std::span<const std::string>(&fpr, 1), sink);
        });
    for (auto& t : threads) t.join();
    CHECK(inner.peak.load() <= 3);
    CHECK(inner.peak.load() >= 2);  // they did run in parallel
    CHECK(limiter.peak() <= 3);
    CHECK(limiter.in_use() == 0);
}

TEST_CASE("permits are returned when the encryption throws") {
    Limiter limiter(1);
    testing::FakeEncryptor inner;
    inner.fail = true;
    ThrottledEncryptor throttled(inner, limiter);
    StringSource in("m");
    std::string out;
    StringSink sink(out);
    CHECK_THROWS_AS(throttled.encrypt(in, {}, sink), EncryptError);
    CHECK(limiter.in_use() == 0);
    const auto permit = limiter.acquire();  // would block forever if the permit leaked
    CHECK(limiter.in_use() == 1);
}

TEST_CASE("raising the limit wakes waiting threads") {
    Limiter limiter(1);
    auto held = limiter.acquire();
    std::atomic<bool> got{false};
    std::thread waiter([&] {
        const auto permit = limiter.acquire();
        got = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK_FALSE(got.load());
    limiter.set_limit(2);
    waiter.join();
    CHECK(got.load());
    CHECK(limiter.limit() == 2);
}

TEST_CASE("a limit of 0 is treated as 1") {
    Limiter limiter(0);
    CHECK(limiter.limit() == 1);
    limiter.set_limit(0);
    CHECK(limiter.limit() == 1);
}
