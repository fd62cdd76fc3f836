#include "crypto/gpg_multifile.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "core/file_descriptor.hpp"
#include "core/openpgp_message_check.hpp"
#include "core/spawn.hpp"
#include "crypto/encryption_key_names.hpp"
#include "crypto/gpgme_handles.hpp"

namespace fs = std::filesystem;

namespace mdcrypt {

std::vector<MultifileStatus> parse_multifile_status(std::string_view status, std::span<const std::string> names) {
    std::vector<MultifileStatus> files(names.size());
    std::string before_files;    // a failure before the first file: gpg could not start on any
    std::size_t started = 0;     // FILE_STARTs seen
    MultifileStatus* current = nullptr;
    bool in_order = true;
    constexpr std::string_view prefix = "[GNUPG:] ";
    while (!status.empty() && in_order) {
        const std::size_t end = status.find('\n');
        std::string_view line = status.substr(0, end);
        status.remove_prefix(end == std::string_view::npos ? status.size() : end + 1);
        if (!line.starts_with(prefix)) continue;
        line.remove_prefix(prefix.size());
        const std::size_t space = line.find(' ');
        const std::string_view keyword = line.substr(0, space);
        const std::string_view args = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
        if (keyword == "FILE_START") {
            // "FILE_START 2 NAME": 2 is encryption.
            const std::size_t name_at = args.find(' ');
            const std::string_view name = name_at == std::string_view::npos ? std::string_view() : args.substr(name_at + 1);
            if (started >= names.size() || name != names[started]) {
                in_order = false;
                break;
            }
            current = &files[started++];
        } else if (keyword == "FILE_DONE") {
            current = nullptr;
        } else if (keyword == "END_ENCRYPTION") {
            if (current) current->ended = true;
        } else if (keyword == "FAILURE" || keyword == "ERROR" || keyword == "INV_RECP" || keyword == "NO_RECP") {
            const std::string what = std::string(keyword) + " " + printable(args);
            if (current) {
                if (current->failure.empty()) current->failure = what;
            } else if (started == 0 && before_files.empty()) {
                before_files = what;
            }
            // After the last file gpg sums up ("FAILURE gpg-exit ..."): each file said its own.
        }
    }
    for (std::size_t i = 0; i < files.size(); ++i) {
        if (!before_files.empty() && files[i].failure.empty()) files[i].failure = before_files;
        if (!in_order && i >= started) files[i].ended = false;
    }
    return files;
}

namespace {

// A fresh 0700 directory for one run: the names gpg reads and the .asc files it writes. Removed with
// everything in it.
class RunDirectory {
public:
    explicit RunDirectory(const fs::path& parent) {
        std::string templ = (parent / "mdcrypt-gpg.XXXXXX").string();
        if (::mkdtemp(templ.data()) == nullptr)
            throw std::runtime_error("cannot create a directory under " + parent.string() + ": " + std::strerror(errno));
        path_ = templ;
    }
    ~RunDirectory() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    RunDirectory(const RunDirectory&) = delete;
    RunDirectory& operator=(const RunDirectory&) = delete;
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

constexpr std::size_t kMaxStatus = 4u << 20;
constexpr std::size_t kMaxErrors = 2048;

// The .asc gpg wrote for one file, through the armor and packet check, into a spool.
Spool read_checked_output(const fs::path& file, const SpoolSettings& spool) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) throw std::runtime_error("gpg's output " + file.filename().string() + " cannot be opened: " + std::strerror(errno));
    const FileDescriptor owned(fd);
    Spool armored(spool);
    CheckingSink checked(armored);
    char chunk[65536];
    for (;;) {
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error("gpg's output cannot be read: " + std::string(std::strerror(errno)));
        if (n == 0) break;
        checked.write(std::string_view(chunk, static_cast<std::size_t>(n)));
    }
    if (const auto wrong = checked.finish()) throw std::runtime_error("gpg's output is not a whole encrypted message: " + *wrong);
    return armored;
}

}  // namespace

GpgMultifileEncryptor::GpgMultifileEncryptor(fs::path gpg_program, fs::path home, TrustModel trust,
                                             std::chrono::seconds timeout_per_message)
    : gpg_program_(std::move(gpg_program)), home_(std::move(home)), trust_(trust), timeout_per_message_(timeout_per_message) {}

std::vector<std::string> GpgMultifileEncryptor::argv(std::span<const std::string> fingerprints,
                                                     std::span<const std::string> files) const {
    // What GPGME passes for our encryptions, with the same offline settings (gpgme_encryptor.cpp).
    std::vector<std::string> args{gpg_program_.string(), "--homedir", home_.string(), "--batch", "--no-tty", "--yes",
                                  "--status-fd", "1", "--exit-on-status-write-error", "--disable-dirmngr",
                                  "--no-auto-key-retrieve", "--auto-key-locate", "local"};
    if (trust_ == TrustModel::ServerKeyring) args.push_back("--always-trust");
    for (const auto& fingerprint : fingerprints) {
        args.push_back("-r");
        args.push_back(fingerprint);
    }
    args.insert(args.end(), {"--armor", "--encrypt", "--multifile", "--"});
    args.insert(args.end(), files.begin(), files.end());
    return args;
}

std::vector<BatchEncrypted> GpgMultifileEncryptor::encrypt_files(std::span<const int> plaintexts,
                                                                  std::span<const std::string> fingerprints,
                                                                  const SpoolSettings& spool) const {
    std::vector<BatchEncrypted> results(plaintexts.size());
    if (plaintexts.empty()) return results;
    std::string who = "encryption to";
    for (const auto& fingerprint : fingerprints) who += " " + printable(fingerprint);
    who += " with GnuPG home " + home_.string() + " (gpg --multifile)";
    const auto fail_all = [&](const std::string& why) {
        for (auto& r : results) r.error = who + " failed: " + why;
    };
    if (fingerprints.empty()) {
        fail_all("no recipient keys");
        return results;
    }
    for (const auto& fingerprint : fingerprints)
        if (!is_fingerprint(fingerprint)) {
            fail_all("not a key fingerprint: '" + printable(fingerprint) + "'");
            return results;
        }

    std::optional<RunDirectory> dir;
    CapturedOutput run;
    std::string ended;  // how gpg ended, for messages it did not finish
    std::vector<std::string> names;
    try {
        dir.emplace(spool.directory);
        for (std::size_t i = 0; i < plaintexts.size(); ++i) {
            names.push_back("m" + std::to_string(i));
            const fs::path link = dir->path() / names.back();
            if (::symlink(("/dev/fd/" + std::to_string(plaintexts[i])).c_str(), link.c_str()) != 0)
                throw std::runtime_error("cannot create " + link.string() + ": " + std::strerror(errno));
        }
        Pipe status = make_pipe();
        Pipe errors = make_pipe();
        const FileDescriptor null_in(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (!null_in) throw std::runtime_error(std::string("/dev/null: ") + std::strerror(errno));
        SpawnActions actions;
        actions.dup_to(null_in.get(), STDIN_FILENO);
        actions.dup_to(status.write.get(), STDOUT_FILENO);
        actions.dup_to(errors.write.get(), STDERR_FILENO);
        for (const int fd : plaintexts) actions.dup_to(fd, fd);
        actions.chdir(dir->path());
        const pid_t pid = spawn(argv(fingerprints, names), actions);
        status.write = FileDescriptor();
        errors.write = FileDescriptor();
        const auto budget = timeout_per_message_ * static_cast<long>(plaintexts.size());
        run = capture_output(status.read, errors.read, kMaxStatus, kMaxErrors, std::chrono::steady_clock::now() + budget);
        if (!run.closed) ::kill(pid, SIGKILL);
        const int wait_status = wait_for_child(pid);
        ended = run.timed_out ? "killed after " + std::to_string(budget.count()) + " s" : describe_wait_status(wait_status);
    } catch (const std::exception& e) {
        fail_all(e.what());
        return results;
    }

    const std::vector<MultifileStatus> statuses = parse_multifile_status(run.out, names);
    const std::string diag = gpg_diagnostic_line(run.err);
    for (std::size_t i = 0; i < results.size(); ++i) {
        const MultifileStatus& s = statuses[i];
        std::string why;
        if (!s.failure.empty()) why = "gpg reported " + s.failure;
        else if (!s.ended) why = "gpg did not finish this message (" + ended + ")";
        if (why.empty()) {
            try {
                results[i].armored.emplace(read_checked_output(dir->path() / (names[i] + ".asc"), spool));
                continue;
            } catch (const std::exception& e) {
                why = e.what();
            }
        }
        results[i].error = who + " failed: " + why + (diag.empty() ? "" : " (gpg: " + diag + ")");
    }
    return results;
}

}  // namespace mdcrypt
