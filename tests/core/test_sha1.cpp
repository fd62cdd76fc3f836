#include "core/sha1.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

using mdcrypt::sha1;
using mdcrypt::to_hex_upper;

TEST_CASE("SHA-1 of the FIPS 180 examples") {
    CHECK(to_hex_upper(sha1("abc")) == "A9993E364706816ABA3E25717850C26C9CD0D89D");
    CHECK(to_hex_upper(sha1("")) == "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709");
    CHECK(to_hex_upper(sha1("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
          "84983E441C3BD26EBAAE4AA1F95129E5E54670F1");
    CHECK(to_hex_upper(sha1(std::string(1'000'000, 'a'))) == "34AA973CD4C4DAA4F61EEB2BDBAD27316534016F");
}

TEST_CASE("SHA-1 fed in pieces equals SHA-1 of the whole, across block and padding boundaries") {
    for (std::size_t length : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 119u, 120u, 128u, 1000u}) {
        std::string data;
        for (std::size_t i = 0; i < length; ++i) data.push_back(static_cast<char>(i * 7 + 3));
        for (std::size_t piece : {1u, 3u, 64u, 100u}) {
            CAPTURE(length, piece);
            mdcrypt::Sha1 h;
            for (std::size_t at = 0; at < data.size(); at += piece) h.update(std::string_view(data).substr(at, piece));
            CHECK(h.digest() == sha1(data));
        }
    }
    mdcrypt::Sha1 million;
    const std::string chunk(7, 'a');
    for (int i = 0; i < 142857; ++i) million.update(chunk);
    million.update("a");
    CHECK(to_hex_upper(million.digest()) == "34AA973CD4C4DAA4F61EEB2BDBAD27316534016F");
}

// Each ctest entry is its own process, so libgcrypt's one-time initialisation happens here in the
// threads, as it can in the milter when two connections look up WKD keys at once.
TEST_CASE("SHA-1 from several threads at once, first use included") {
    std::vector<std::string> results(8);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < results.size(); ++i)
        threads.emplace_back([&results, i] {
            mdcrypt::Sha1 h;
            h.update("a");
            h.update("bc");
            results[i] = to_hex_upper(h.digest()) + to_hex_upper(sha1("abc"));
        });
    for (auto& t : threads) t.join();
    for (const auto& r : results) CHECK(r == "A9993E364706816ABA3E25717850C26C9CD0D89DA9993E364706816ABA3E25717850C26C9CD0D89D");
}
