#include "core/ldap_filter.hpp"

#include <catch2/catch.hpp>

#include <string>

using mdcrypt::check_ldap_filter_template;
using mdcrypt::expand_ldap_filter;
using mdcrypt::ldap_escape_filter_value;

TEST_CASE("RFC 4515 escaping turns the filter's special characters and NUL into hex pairs") {
    CHECK(ldap_escape_filter_value("alice@example.test") == "alice@example.test");
    CHECK(ldap_escape_filter_value("*") == "\\2a");
    CHECK(ldap_escape_filter_value("(") == "\\28");
    CHECK(ldap_escape_filter_value(")") == "\\29");
    CHECK(ldap_escape_filter_value("\\") == "\\5c");
    CHECK(ldap_escape_filter_value(std::string("a\0b", 3)) == "a\\00b");
    CHECK(ldap_escape_filter_value("*)(uid=*") == "\\2a\\29\\28uid=\\2a");
    CHECK(ldap_escape_filter_value("a\\2a") == "a\\5c2a");  // an escape in the input stays literal
}

TEST_CASE("control characters, DEL and non-ASCII bytes are escaped too") {
    CHECK(ldap_escape_filter_value("a\nb\x7f") == "a\\0ab\\7f");
    CHECK(ldap_escape_filter_value("j\xc3\xb6rg") == "j\\c3\\b6rg");
    CHECK(ldap_escape_filter_value("") == "");
}

TEST_CASE("the filter template gets the escaped address, local part and domain") {
    CHECK(expand_ldap_filter("(mail=%s)", "alice", "example.test") == "(mail=alice@example.test)");
    CHECK(expand_ldap_filter("(&(uid=%l)(o=%d))", "bob", "example.test") == "(&(uid=bob)(o=example.test))");
    CHECK(expand_ldap_filter("(mail=%s)", "*)(uid=*", "example.test") == "(mail=\\2a\\29\\28uid=\\2a@example.test)");
    CHECK(expand_ldap_filter("(&(mail=%s)(note=100%%))", "a", "b.test") == "(&(mail=a@b.test)(note=100%))");
}

TEST_CASE("filter templates that are not one parenthesized filter naming the address are refused") {
    CHECK_FALSE(check_ldap_filter_template("(mail=%s)"));
    CHECK_FALSE(check_ldap_filter_template("(&(objectClass=inetOrgPerson)(|(mail=%s)(mailAlternateAddress=%s)))"));
    CHECK_FALSE(check_ldap_filter_template("(&(uid=%l)(dc=%d))"));
    for (const char* bad : {"mail=%s", "(mail=%s", "(mail=%s))", "(a=%s)(b=%s)", "(mail=alice)", "(mail=%d)",
                            "(mail=%x)", "(mail=%s%)", "(mail=%s\n)", "", "()"}) {
        CAPTURE(bad);
        CHECK(check_ldap_filter_template(bad));
    }
    CHECK(*check_ldap_filter_template("(mail=%x)") == "unknown placeholder %x (valid: %s address, %l local part, %d domain, %%)");
}
