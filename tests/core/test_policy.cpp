#include "core/policy.hpp"

#include <catch2/catch.hpp>

using mdcrypt::Mode;
using mdcrypt::Policy;

namespace {

Policy make_policy(std::initializer_list<std::pair<const char*, Mode>> domains) {
    Policy policy;
    for (const auto& [name, mode] : domains) policy.domains[name] = mdcrypt::DomainPolicy{mode};
    return policy;
}

}  // namespace

TEST_CASE("mode names are the ones written in the policy file") {
    for (Mode mode : {Mode::Off, Mode::Opportunistic, Mode::Required}) CHECK(mdcrypt::parse_mode(to_string(mode)) == mode);
    CHECK(to_string(Mode::Off) == "off");
    CHECK(to_string(Mode::Opportunistic) == "opportunistic");
    CHECK(to_string(Mode::Required) == "required");
    CHECK_FALSE(mdcrypt::parse_mode("encrypt"));
    CHECK_FALSE(mdcrypt::parse_mode(""));
}

TEST_CASE("only listed domains are local, compared case-insensitively") {
    const Policy policy = make_policy({{"example.org", Mode::Required}});
    CHECK(policy.for_domain("example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("Example.ORG")->mode == Mode::Required);
    CHECK_FALSE(policy.for_domain("example.com"));
    CHECK_FALSE(policy.for_domain("mail.example.org"));  // an exact entry does not cover subdomains
    CHECK_FALSE(policy.for_domain(""));
}

TEST_CASE("a wildcard covers every subdomain but not the domain itself") {
    const Policy policy = make_policy({{"*.example.org", Mode::Required}});
    CHECK(policy.for_domain("lists.example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("a.b.Example.Org")->mode == Mode::Required);
    CHECK_FALSE(policy.for_domain("example.org"));
    CHECK_FALSE(policy.for_domain("badexample.org"));  // a suffix match must end at a dot
    CHECK_FALSE(policy.for_domain("example.org.evil.com"));
}

TEST_CASE("the most specific entry wins") {
    const Policy policy = make_policy({{"example.org", Mode::Off},
                                       {"*.example.org", Mode::Opportunistic},
                                       {"*.lists.example.org", Mode::Required},
                                       {"mail.example.org", Mode::Required},
                                       {"archive.lists.example.org", Mode::Off}});
    CHECK(policy.for_domain("example.org")->mode == Mode::Off);
    CHECK(policy.for_domain("www.example.org")->mode == Mode::Opportunistic);
    CHECK(policy.for_domain("mail.example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("dev.lists.example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("x.dev.lists.example.org")->mode == Mode::Required);
    CHECK(policy.for_domain("archive.lists.example.org")->mode == Mode::Off);
    CHECK(policy.for_domain("lists.example.org")->mode == Mode::Opportunistic);
}
