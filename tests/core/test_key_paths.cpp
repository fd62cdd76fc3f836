#include "core/key_paths.hpp"

#include <catch2/catch.hpp>

#include <string>

using mdcrypt::check_key_path_template;
using mdcrypt::expand_key_path;
using mdcrypt::strip_subaddress;
using mdcrypt::wkd_key_path;

constexpr const char* kTemplate = "/var/vmail/%d/%l/.pgp/pubkey.asc";

TEST_CASE("the subaddress is what follows the first delimiter character") {
    CHECK(strip_subaddress("alice+lists", "+") == "alice");
    CHECK(strip_subaddress("alice+lists+more", "+") == "alice");
    CHECK(strip_subaddress("alice", "+") == "alice");
    CHECK(strip_subaddress("alice-lists", "+") == "alice-lists");
    CHECK(strip_subaddress("alice-lists", "+-") == "alice");
    CHECK(strip_subaddress("alice+lists", "") == "alice+lists");  // no delimiter configured
    CHECK(strip_subaddress("+alice", "+") == "+alice");          // nothing before it: not a subaddress
    CHECK(strip_subaddress("Alice+Lists", "+") == "Alice");      // case kept; comparisons ignore it
    CHECK(strip_subaddress("mailer-daemon", "-") == "mailer-daemon");  // as Postfix
    CHECK(strip_subaddress("postmaster", "a") == "postmaster");
}

TEST_CASE("the key file template expands %d, %l, %u and %%, lower-cased") {
    CHECK(expand_key_path(kTemplate, "Alice", "Example.ORG").path == "/var/vmail/example.org/alice/.pgp/pubkey.asc");
    CHECK(expand_key_path("/keys/%u.asc", "alice", "example.org").path == "/keys/alice@example.org.asc");
    CHECK(expand_key_path("/keys/100%%/%d", "alice", "example.org").path == "/keys/100%/example.org");
    CHECK(expand_key_path("/keys/%d-%l", "a.b", "example.org").path == "/keys/example.org-a.b");
}

TEST_CASE("local parts and domains that could leave the template's directory give no path") {
    for (const char* local : {"..", ".", "../../etc", "a/b", "/etc/passwd", "", "a\nb"}) {
        CAPTURE(local);
        const auto p = expand_key_path(kTemplate, local, "example.org");
        CHECK_FALSE(p.path);
        CHECK_FALSE(p.error.empty());
    }
    for (const char* domain : {"..", ".", "a/b", ""}) {
        CAPTURE(domain);
        CHECK_FALSE(expand_key_path(kTemplate, "alice", domain).path);
        CHECK_FALSE(wkd_key_path("/srv/openpgpkey", "alice", domain).path);
    }
    // Dots inside a name are just characters.
    CHECK(expand_key_path(kTemplate, "..alice", "example.org").path == "/var/vmail/example.org/..alice/.pgp/pubkey.asc");
    CHECK(expand_key_path(kTemplate, "alice..", "example.org").path);
    // %u joins both: "..@x" is one component, not "..".
    CHECK(expand_key_path("/keys/%u", "..", "example.org").path == std::nullopt);
}

TEST_CASE("a template must be absolute, use only known % sequences and have no . or .. of its own") {
    CHECK_FALSE(check_key_path_template(kTemplate));
    CHECK_FALSE(check_key_path_template("/keys/%u.asc"));
    CHECK_FALSE(check_key_path_template("/keys/%%d"));
    CHECK_THAT(*check_key_path_template("/keys/%x"), Catch::Contains("% sequence"));
    CHECK_THAT(*check_key_path_template("/keys/%"), Catch::Contains("% sequence"));
    CHECK_THAT(*check_key_path_template("keys/%l"), Catch::Contains("absolute"));
    CHECK_THAT(*check_key_path_template("%d/%l"), Catch::Contains("absolute"));
    CHECK_THAT(*check_key_path_template("/var/vmail/../etc/%l"), Catch::Contains("\"..\""));
    CHECK_THAT(*check_key_path_template("/var/vmail/./%l"), Catch::Contains("\".\""));
    CHECK(check_key_path_template("/keys/\t%l"));
    CHECK(check_key_path_template(""));
}

TEST_CASE("the WKD path is <root>/<domain>/hu/<hash of the local part>") {
    CHECK(wkd_key_path("/srv/openpgpkey", "Joe.Doe", "Example.ORG").path ==
          "/srv/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q");
    // Any local part hashes to a safe name.
    CHECK(wkd_key_path("/srv/openpgpkey", "../../etc", "example.org").path->parent_path() == "/srv/openpgpkey/example.org/hu");
    CHECK_FALSE(wkd_key_path("relative", "alice", "example.org").path);
}
