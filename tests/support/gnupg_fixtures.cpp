#include "gnupg_fixtures.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#ifndef MDCRYPT_TEST_KEYS_DIR
#define MDCRYPT_TEST_KEYS_DIR ""
#endif

namespace mdcrypt::test {

void write_private_file(const std::filesystem::path& file, std::string_view data) {
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + file.string() + ": " + std::strerror(errno));
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            ::close(fd);
            throw std::runtime_error("cannot write " + file.string() + ": " + std::strerror(errno));
        }
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
}

GnupgHome::GnupgHome() : dir_("mdcrypt-gnupg-"), home_(dir_.path() / "home") {
    if (::mkdir(home_.c_str(), 0700) != 0) throw std::runtime_error("mkdir " + home_.string() + ": " + std::strerror(errno));
}

GnupgHome::~GnupgHome() {
    try {
        kill_daemons();
    } catch (...) {
        // best effort: the directory goes anyway
    }
}

void GnupgHome::kill_daemons() const { run_process({"/usr/bin/gpgconf", "--homedir", home_.string(), "--kill", "all"}); }

bool GnupgHome::has_agent_socket() const { return std::filesystem::exists(home_ / "S.gpg-agent"); }

bool GnupgHome::has_dirmngr_socket() const { return std::filesystem::exists(home_ / "S.dirmngr"); }

ProcessResult GnupgHome::gpg(const std::vector<std::string>& args, std::string_view input) const {
    std::vector<std::string> argv{"/usr/bin/gpg", "--homedir", home_.string(), "--batch", "--no-tty",
                                  "--pinentry-mode", "loopback", "--passphrase", ""};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, input);
}

void GnupgHome::import(const std::filesystem::path& key_file) const {
    const ProcessResult r = gpg({"--import", key_file.string()});
    if (!r.ok()) throw std::runtime_error("gpg --import " + key_file.string() + ": " + r.describe());
}

void GnupgHome::set_ownertrust(const std::string& fingerprint, int level) const {
    const ProcessResult r = gpg({"--import-ownertrust"}, fingerprint + ":" + std::to_string(level) + ":\n");
    if (!r.ok()) throw std::runtime_error("gpg --import-ownertrust: " + r.describe());
    const ProcessResult check = gpg({"--check-trustdb"});
    if (!check.ok()) throw std::runtime_error("gpg --check-trustdb: " + check.describe());
}

TestKeys::TestKeys(const std::filesystem::path& dir) {
    std::ifstream list(dir / "keys.txt");
    if (!list)
        throw std::runtime_error("no test keys in " + dir.string() +
                                 ": build the crypto_test_keys target (tests/support/make-test-keys) first");
    std::string name, fingerprint, address;
    while (list >> name >> fingerprint >> address)
        keys_.emplace(name, TestKey{name, fingerprint, address, dir / (name + ".pub.asc"), dir / (name + ".sec.asc")});
    public_bundle_ = dir / "public.asc";
}

const TestKeys& TestKeys::get() {
    static const TestKeys keys([] {
        const char* env = std::getenv("MDCRYPT_TEST_KEYS_DIR");
        return std::filesystem::path(env && *env ? env : MDCRYPT_TEST_KEYS_DIR);
    }());
    return keys;
}

const TestKey& TestKeys::operator[](std::string_view name) const {
    const auto it = keys_.find(name);
    if (it == keys_.end()) throw std::out_of_range("no test key named " + std::string(name));
    return it->second;
}

}  // namespace mdcrypt::test
