// Test fixtures for real-gpg tests: private temporary directories, throwaway GnuPG homes, and the key
// set that tests/support/make-test-keys made at build time. Every fixture cleans up in its destructor,
// so a failing test leaves no directory and no gpg-agent behind.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "run_process.hpp"

#include "temp_dir.hpp"
#include "test_files.hpp"

namespace mdcrypt::test {

using mdcrypt::testing::TempDir;

// Writes `data` to a new file with mode 0600.
void write_private_file(const std::filesystem::path& file, std::string_view data);
using mdcrypt::testing::read_file;

// A throwaway GnuPG home (mode 0700) in its own TempDir. The destructor kills its gpg-agent (and any
// other daemon) with `gpgconf --kill all` before removing it.
class GnupgHome {
public:
    GnupgHome();
    ~GnupgHome();
    GnupgHome(const GnupgHome&) = delete;
    GnupgHome& operator=(const GnupgHome&) = delete;

    const std::filesystem::path& path() const { return home_; }

    // /usr/bin/gpg --homedir HOME --batch --no-tty --pinentry-mode loopback --passphrase '' ARGS...
    ProcessResult gpg(const std::vector<std::string>& args, std::string_view input = {}) const;
    // gpg --import FILE; throws std::runtime_error with gpg's words on failure.
    void import(const std::filesystem::path& key_file) const;
    // Sets a key's owner trust (GnuPG's numbers: 6 = ultimate) and updates the trust database.
    void set_ownertrust(const std::string& fingerprint, int level) const;
    // gpgconf --kill all: stops the gpg-agent an import may have started.
    void kill_daemons() const;
    // Whether a gpg-agent or dirmngr socket exists in the home (a daemon was started and is running).
    bool has_agent_socket() const;
    bool has_dirmngr_socket() const;

private:
    TempDir dir_;
    std::filesystem::path home_;
};

struct TestKey {
    std::string name;  // alice, bob, expired, revoked, signonly, carol
    std::string fingerprint;
    std::string address;
    std::filesystem::path public_file;
    std::filesystem::path secret_file;  // no passphrase
};

// The keys made by make-test-keys: $MDCRYPT_TEST_KEYS_DIR, else the build's test-keys directory.
class TestKeys {
public:
    static const TestKeys& get();  // throws std::runtime_error when the key set is missing
    const TestKey& operator[](std::string_view name) const;
    // Public keys of every key but carol, who is kept apart for "a key is imported later" tests.
    const std::filesystem::path& public_bundle() const { return public_bundle_; }

private:
    explicit TestKeys(const std::filesystem::path& dir);
    std::map<std::string, TestKey, std::less<>> keys_;
    std::filesystem::path public_bundle_;
};

}  // namespace mdcrypt::test
