// GpgMultifileEncryptor against real gpg: each message of one run decrypts to its own bytes, gpg's
// failures (a refused key, a killed, hanging or lying gpg) leave no message counted as encrypted,
// and nothing of a run stays in the private directory. Plus gpg's per-file status, parsed.
#include "crypto/gpg_multifile.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/file_descriptor.hpp"
#include "gpg_fault.hpp"
#include "server_home.hpp"

using namespace std::string_literals;
using namespace mdcrypt;
using namespace mdcrypt::test;

namespace {

const TestKey& key(const char* name) { return TestKeys::get()[name]; }

// Plaintexts in unlinked files, as mdcrypt-mailbox records them (written, offset at the end).
class PlaintextFiles {
public:
    PlaintextFiles(const std::filesystem::path& dir, const std::vector<std::string>& texts) {
        for (const auto& text : texts) {
            FileDescriptor fd = create_unlinked_file(dir);
            REQUIRE(::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()));
            fds_.push_back(fd.get());
            owned_.push_back(std::move(fd));
        }
    }
    std::span<const int> fds() const { return fds_; }

private:
    std::vector<FileDescriptor> owned_;
    std::vector<int> fds_;
};

std::string read_spool(const Spool& spool) {
    std::string out;
    StringSink sink(out);
    auto reader = spool.reader();
    copy_all(*reader, sink);
    return out;
}

std::string decrypt(const GnupgHome& home, const std::string& armored) {
    const ProcessResult r = home.gpg({"--decrypt"}, armored);
    INFO(r.describe());
    REQUIRE(r.ok());
    return r.out;
}

bool directory_empty(const std::filesystem::path& dir) { return std::filesystem::directory_iterator(dir) == std::filesystem::directory_iterator(); }

std::vector<std::string> fingerprints(std::initializer_list<const char*> names) {
    std::vector<std::string> out;
    for (const char* name : names) out.push_back(key(name).fingerprint);
    return out;
}

}  // namespace

TEST_CASE("each message of one gpg --multifile run decrypts, for every key, to exactly its own bytes") {
    ServerHome server;
    TempDir work("mdcrypt-multifile-");
    const std::vector<std::string> texts{
        "Content-Type: text/plain\r\n\r\nfirst\r\n",
        "Content-Type: application/octet-stream\r\n\r\nbinary \x00\x01\xff no final line end"s,
        std::string(300 * 1024, 'x') + "\r\n",  // larger than the spool keeps in memory
    };
    PlaintextFiles files(work.path(), texts);
    const GpgMultifileEncryptor encryptor("/usr/bin/gpg", server.path(), TrustModel::ServerKeyring, std::chrono::seconds(60));
    const std::vector<BatchEncrypted> results =
        encryptor.encrypt_files(files.fds(), fingerprints({"alice", "bob"}), {work.path(), 64 * 1024});
    REQUIRE(results.size() == texts.size());
    for (const char* name : {"alice", "bob"}) {
        GnupgHome recipient;
        recipient.import(key(name).secret_file);
        for (std::size_t i = 0; i < texts.size(); ++i) {
            INFO(name << " message " << i << ": " << results[i].error);
            REQUIRE(results[i].armored);
            CHECK(decrypt(recipient, read_spool(*results[i].armored)) == texts[i]);
        }
    }
    // Only the plaintext files (unlinked) and the spools' unlinked files: nothing by name.
    CHECK(directory_empty(work.path()));
}

TEST_CASE("a key gpg refuses fails every message of the run, naming the key and gpg's reason") {
    ServerHome server;
    TempDir work("mdcrypt-multifile-");
    PlaintextFiles files(work.path(), {"one\r\n", "two\r\n"});
    const GpgMultifileEncryptor encryptor("/usr/bin/gpg", server.path(), TrustModel::ServerKeyring, std::chrono::seconds(60));
    for (const char* refused : {"expired", "carol"}) {  // carol: not in the server's keyring
        INFO(refused);
        const auto results = encryptor.encrypt_files(files.fds(), fingerprints({"alice", refused}), {work.path(), 1 << 20});
        REQUIRE(results.size() == 2);
        for (const auto& r : results) {
            CHECK_FALSE(r.armored);
            CHECK_THAT(r.error, Catch::Contains(key(refused).fingerprint) && Catch::Contains("INV_RECP") &&
                                    Catch::Contains("gpg --multifile"));
        }
    }
    CHECK(directory_empty(work.path()));
}

TEST_CASE("a gpg killed before its output, or one cut short, leaves those messages unencrypted") {
    ServerHome server;
    TempDir work("mdcrypt-multifile-");
    PlaintextFiles files(work.path(), {"one\r\n", "two\r\n", "three\r\n"});
    const GpgMultifileEncryptor encryptor(fault_gpg(), server.path(), TrustModel::ServerKeyring, std::chrono::seconds(60));

    SECTION("killed") {
        GpgFault fault("encrypt-kill-reading");
        const auto results = encryptor.encrypt_files(files.fds(), fingerprints({"alice"}), {work.path(), 1 << 20});
        for (const auto& r : results) {
            CHECK_FALSE(r.armored);
            CHECK_THAT(r.error, Catch::Contains("killed by signal 9"));
        }
    }
    SECTION("its last output cut after gpg said it was done, and gpg exits 0") {
        GpgFault fault("multifile-truncate");
        const auto results = encryptor.encrypt_files(files.fds(), fingerprints({"alice"}), {work.path(), 1 << 20});
        REQUIRE(results.size() == 3);
        CHECK(results[0].armored);
        CHECK(results[1].armored);
        CHECK_FALSE(results[2].armored);
        CHECK_THAT(results[2].error, Catch::Contains("not a whole encrypted message"));
    }
    CHECK(directory_empty(work.path()));
}

TEST_CASE("a hanging gpg is killed after the run's time (per message times messages) and nothing is encrypted") {
    ServerHome server;
    TempDir work("mdcrypt-multifile-");
    PlaintextFiles files(work.path(), {"one\r\n", "two\r\n"});
    GpgFault fault("encrypt-hang");
    const GpgMultifileEncryptor encryptor(fault_gpg(), server.path(), TrustModel::ServerKeyring, std::chrono::seconds(1));
    const auto results = encryptor.encrypt_files(files.fds(), fingerprints({"alice"}), {work.path(), 1 << 20});
    for (const auto& r : results) {
        CHECK_FALSE(r.armored);
        CHECK_THAT(r.error, Catch::Contains("killed after 2 s"));
    }
    REQUIRE(fault.hung_pid());
    CHECK(process_ends(*fault.hung_pid()));
}

TEST_CASE("gpg's argv: offline, the trust model's --always-trust only for the server keyring, files after --") {
    const std::vector<std::string> fprs{"AAAABBBBCCCCDDDDEEEEFFFF0000111122223333"};
    const std::vector<std::string> names{"m0", "m1"};
    const auto server = GpgMultifileEncryptor("/usr/bin/gpg", "/h", TrustModel::ServerKeyring, std::chrono::seconds(1)).argv(fprs, names);
    const auto trustdb = GpgMultifileEncryptor("/usr/bin/gpg", "/h", TrustModel::GnupgTrustDb, std::chrono::seconds(1)).argv(fprs, names);
    const auto has = [](const std::vector<std::string>& v, const char* s) { return std::find(v.begin(), v.end(), s) != v.end(); };
    CHECK(has(server, "--always-trust"));
    CHECK_FALSE(has(trustdb, "--always-trust"));
    for (const auto* arg : {"--disable-dirmngr", "--no-auto-key-retrieve", "--multifile", "--armor", "--batch"}) CHECK(has(trustdb, arg));
    CHECK(std::vector<std::string>(server.end() - 3, server.end()) == std::vector<std::string>{"--", "m0", "m1"});
}

TEST_CASE("gpg's status output gives each file its own verdict") {
    const std::vector<std::string> names{"m0", "m1", "m2"};
    SECTION("the second file failed, the others ended; gpg's closing FAILURE is about none of them") {
        const auto s = parse_multifile_status(
            "[GNUPG:] FILE_START 2 m0\n[GNUPG:] BEGIN_ENCRYPTION 2 9\n[GNUPG:] END_ENCRYPTION\n[GNUPG:] FILE_DONE\n"
            "[GNUPG:] FILE_START 2 m1\n[GNUPG:] FAILURE encrypt 33554441\n[GNUPG:] FILE_DONE\n"
            "[GNUPG:] FILE_START 2 m2\n[GNUPG:] END_ENCRYPTION\n[GNUPG:] FILE_DONE\n[GNUPG:] FAILURE gpg-exit 33554433\n",
            names);
        REQUIRE(s.size() == 3);
        CHECK((s[0].ended && s[0].failure.empty()));
        CHECK(s[1].failure == "FAILURE encrypt 33554441");
        CHECK_FALSE(s[1].ended);
        CHECK((s[2].ended && s[2].failure.empty()));
    }
    SECTION("a file gpg never reached is not ended") {
        const auto s = parse_multifile_status("[GNUPG:] FILE_START 2 m0\n[GNUPG:] END_ENCRYPTION\n[GNUPG:] FILE_DONE\n", names);
        CHECK(s[0].ended);
        CHECK_FALSE(s[1].ended);
        CHECK_FALSE(s[2].ended);
    }
    SECTION("a failure before the first file is every file's") {
        const auto s = parse_multifile_status("[GNUPG:] INV_RECP 0 AAAA\n[GNUPG:] FAILURE option-parser 1\n", names);
        for (const auto& f : s) CHECK(f.failure == "INV_RECP 0 AAAA");
    }
    SECTION("files out of order or by other names count for nothing from there on") {
        const auto s = parse_multifile_status(
            "[GNUPG:] FILE_START 2 m0\n[GNUPG:] END_ENCRYPTION\n[GNUPG:] FILE_DONE\n"
            "[GNUPG:] FILE_START 2 m2\n[GNUPG:] END_ENCRYPTION\n[GNUPG:] FILE_DONE\n",
            names);
        CHECK(s[0].ended);
        CHECK_FALSE(s[1].ended);
        CHECK_FALSE(s[2].ended);
    }
    SECTION("END_ENCRYPTION outside a file, or a line cut short, ends nothing") {
        const auto s = parse_multifile_status("[GNUPG:] END_ENCRYPTION\n[GNUPG:] FILE_START 2 m0\n[GNUPG:] END_ENCRYPT", names);
        CHECK_FALSE(s[0].ended);
    }
}
