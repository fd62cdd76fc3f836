// GpgEngine: which engine holds GPGME's process default, what the others pay, and that every
// context works on its own engine's home.
#include "crypto/gpg_engine.hpp"

#include <catch2/catch.hpp>

#include <optional>

#include "crypto/gpgme_encryptor.hpp"
#include "gpg_process_counter.hpp"
#include "server_home.hpp"

using namespace mdcrypt;
using namespace mdcrypt::test;

TEST_CASE("the first engine holds the process default, others pay `gpg --version` per context until it is gone") {
    GnupgHome home_a, home_b;
    std::optional<GpgEngine> a(std::in_place, home_a.path(), counting_gpg());
    GpgEngine b(home_b.path(), counting_gpg());
    GpgEngine a_again(home_a.path(), counting_gpg());  // same program and home: shares the default
    CHECK(a->uses_process_default());
    CHECK(a_again.uses_process_default());
    CHECK_FALSE(b.uses_process_default());

    GpgProcessCounter counter;
    a->new_context();
    a_again.new_context();
    CHECK(counter.count() == 0);
    b.new_context();
    REQUIRE(counter.count() == 1);
    CHECK_THAT(counter.processes()[0], Catch::Contains("--version"));

    a.reset();
    counter.reset();
    b.new_context();  // a_again still holds the default
    CHECK(counter.count() == 1);
    CHECK_FALSE(b.uses_process_default());
}

TEST_CASE("the default passes to the next engine that asks when its holders are gone") {
    GnupgHome home_a, home_b;
    std::optional<GpgEngine> a(std::in_place, home_a.path(), counting_gpg());
    GpgEngine b(home_b.path(), counting_gpg());
    REQUIRE_FALSE(b.uses_process_default());
    a.reset();

    GpgProcessCounter counter;
    b.new_context();  // takes over: one `gpg --version`, once
    CHECK(b.uses_process_default());
    counter.reset();
    for (int i = 0; i < 3; ++i) b.new_context();
    CHECK(counter.count() == 0);
}

TEST_CASE("each engine's contexts work on its own home") {
    ServerHome server;  // no carol
    GnupgHome carol_only;
    carol_only.import(TestKeys::get()["carol"].public_file);
    GpgmeEncryptor first(server.path(), TrustModel::ServerKeyring);       // holds the default
    GpgmeEncryptor second(carol_only.path(), TrustModel::ServerKeyring);  // its own engine info

    const std::vector<std::string> carol{TestKeys::get()["carol"].fingerprint};
    std::string out;
    StringSink sink(out);
    StringSource a("for carol");
    second.encrypt(a, carol, sink);
    CHECK_FALSE(out.empty());
    StringSource b("for carol");
    CHECK_THROWS_WITH(first.encrypt(b, carol, sink), Catch::Contains("No public key"));
}

TEST_CASE("a program that is not gpg, or not there, is refused at construction") {
    GnupgHome home;
    CHECK_THROWS_AS(GpgEngine(home.path(), "/nonexistent/gpg"), GpgmeInitError);
    CHECK_THROWS_AS(GpgEngine(home.path(), "/bin/false"), GpgmeInitError);
    // And a good engine still works afterwards.
    GpgEngine good(home.path());
    CHECK(good.new_context() != nullptr);
}

TEST_CASE("a home that is not a directory is refused") {
    TempDir dir;
    write_private_file(dir.path() / "file", "x");
    CHECK_THROWS_WITH(GpgEngine(dir.path() / "file"), Catch::Contains("not an existing directory"));
}
