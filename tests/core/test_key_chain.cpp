#include "core/key_chain.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace mdcrypt;
using Status = KeyLookup::Status;

namespace {

KeyLookup found(const char* fpr, const char* source) { return {Status::Found, UsableKey{fpr, 0, source}, {}}; }
KeyLookup none(const char* reason) { return {Status::NotFound, std::nullopt, reason}; }
KeyLookup failed(const char* reason) { return {Status::Error, std::nullopt, reason}; }

// A source that answers `answer` and counts how often it was asked.
NamedKeySource source(const char* name, KeyLookup answer, int& asked, std::vector<std::string>* addresses = nullptr) {
    return {name, [answer, &asked, addresses](std::string_view address, std::int64_t) {
                ++asked;
                if (addresses) addresses->emplace_back(address);
                return answer;
            }};
}

}  // namespace

TEST_CASE("the first source with a usable key wins and later sources are not asked") {
    int keyring = 0, file = 0, wkd = 0;
    std::vector<std::string> asked_for;
    const KeySourceChain chain({source("keyring", none("no key in keyring"), keyring, &asked_for),
                                source("file", found("FILEKEY", "file /f"), file, &asked_for),
                                source("wkd", found("WKDKEY", "wkd /w"), wkd)});
    const KeyLookup r = chain.lookup("alice@example.org", 0);
    REQUIRE(r.status == Status::Found);
    CHECK(r.key->fingerprint == "FILEKEY");
    CHECK((keyring == 1 && file == 1 && wkd == 0));
    CHECK(asked_for == std::vector<std::string>{"alice@example.org", "alice@example.org"});
}

TEST_CASE("the configured order decides between two usable keys") {
    int a = 0, b = 0;
    const KeySourceChain keyring_first({source("keyring", found("KEYRING", "keyring"), a), source("file", found("FILE", "file"), b)});
    const KeySourceChain file_first({source("file", found("FILE", "file"), b), source("keyring", found("KEYRING", "keyring"), a)});
    CHECK(keyring_first.lookup("a@b", 0).key->fingerprint == "KEYRING");
    CHECK(file_first.lookup("a@b", 0).key->fingerprint == "FILE");
}

TEST_CASE("no usable key anywhere: NotFound with every source's reason") {
    int n = 0;
    const KeySourceChain chain({source("keyring", none("no key in keyring /home"), n), source("file", none("file /f: no such file"), n),
                                source("wkd", none("wkd /w: no such file"), n)});
    const KeyLookup r = chain.lookup("a@b", 0);
    CHECK(r.status == Status::NotFound);
    CHECK(r.reason == "no key in keyring /home; file /f: no such file; wkd /w: no such file");
    CHECK(n == 3);
}

TEST_CASE("a failing source before any usable key is an Error, never a later source's key or no key") {
    int n = 0;
    const KeySourceChain failing_first({source("keyring", failed("gpg: cannot read pubring.kbx"), n),
                                        source("file", found("FILE", "file /f"), n)});
    const KeyLookup r = failing_first.lookup("a@b", 0);
    CHECK(r.status == Status::Error);
    CHECK_FALSE(r.key);
    CHECK_THAT(r.reason, Catch::Contains("keyring") && Catch::Contains("cannot read pubring.kbx"));
    CHECK(n == 1);  // the file source is not asked

    const KeySourceChain failing_after_none({source("file", none("file /f: no such file"), n), source("keyring", failed("broken"), n)});
    CHECK(failing_after_none.lookup("a@b", 0).status == Status::Error);

    // A usable key before the failing source: the failing one is never asked.
    int asked_keyring = 0;
    const KeySourceChain found_first({source("file", found("FILE", "file /f"), n), source("keyring", failed("broken"), asked_keyring)});
    CHECK(found_first.lookup("a@b", 0).status == Status::Found);
    CHECK(asked_keyring == 0);
}

TEST_CASE("a trace asks every source and marks the one that decided") {
    int n = 0;
    const KeySourceChain chain({source("keyring", none("no key"), n), source("file", found("FILE", "file /f"), n),
                                source("wkd", found("WKD", "wkd /w"), n)});
    const KeyTrace trace = chain.trace("a@b", 0);
    CHECK(n == 3);
    REQUIRE(trace.answers.size() == 3);
    CHECK(trace.answers[2].lookup.key->fingerprint == "WKD");
    CHECK(trace.used == 1);
    CHECK(trace.result.key->fingerprint == "FILE");

    const KeySourceChain empty({});
    CHECK(empty.lookup("a@b", 0).status == Status::NotFound);
    CHECK(empty.trace("a@b", 0).used == 0);
}
