// The GnuPG home the crypto tests encrypt with: public keys only, like a mail server's.
#pragma once

#include <ctime>

#include "gnupg_fixtures.hpp"

namespace mdcrypt::test {

inline std::int64_t now_seconds() { return static_cast<std::int64_t>(std::time(nullptr)); }

// Public keys of alice, bob, expired, revoked and signonly (carol is not there). The gpg-agent the
// import starts is stopped again, so tests see only what their own operations start.
class ServerHome : public GnupgHome {
public:
    ServerHome() {
        import(TestKeys::get().public_bundle());
        kill_daemons();
    }
};

// Secret keys of alice, bob and carol, for decrypting with gpg.
class RecipientHome : public GnupgHome {
public:
    RecipientHome() {
        for (const char* name : {"alice", "bob", "carol"}) import(TestKeys::get()[name].secret_file);
    }
};

}  // namespace mdcrypt::test
