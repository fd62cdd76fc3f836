#include "keytool/keyring_admin.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "core/expected_keys.hpp"
#include "core/header.hpp"
#include "core/openpgp_keys.hpp"
#include "core/text.hpp"
#include "crypto/gpg_engine.hpp"
#include "crypto/key_index.hpp"

namespace mdcrypt::keytool {

namespace {

bool same_fingerprint(std::string_view a, std::string_view b) { return to_lower_ascii(a) == to_lower_ascii(b); }

std::vector<std::string> addresses_of(const KeyFacts& key) {
    std::vector<std::string> out;
    for (const auto& uid : key.user_ids) {
        if (uid.address.empty()) continue;
        std::string address = to_lower_ascii(uid.address);
        if (std::find(out.begin(), out.end(), address) == out.end()) out.push_back(std::move(address));
    }
    return out;
}

KeyReport judge(const KeyFacts& key, std::int64_t now) {
    KeyReport report;
    report.fingerprint = key.fingerprint;
    for (const auto& address : addresses_of(key)) {
        const KeyAssessment a = assess_key(key, address, now);
        report.addresses.push_back({address, a.key.has_value(), a.reason});
    }
    return report;
}

std::vector<KeyFacts> list(const std::filesystem::path& home, TrustModel trust, const std::filesystem::path& gpg) {
    try {
        KeyIndex index(home, trust, gpg);
        return index.listed_keys();
    } catch (const std::exception& e) {
        throw AdminError(e.what());
    }
}

std::optional<ExpectedKeys> read_expected(const std::filesystem::path& home) {
    const std::filesystem::path file = home / kExpectedKeysFile;
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return std::nullopt;
        throw AdminError("cannot read " + file.string() + ": " + std::strerror(errno));
    }
    std::string text;
    char buffer[65536];
    ssize_t n = 0;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
    ::close(fd);
    if (n < 0) throw AdminError("cannot read " + file.string());
    ExpectedKeys expected = parse_expected_keys(text, file.string());
    if (!expected.ok()) throw AdminError(expected.error);
    return expected;
}

// Replaces `file` with `text` atomically: a crash leaves the old list or the new one, never half.
void write_atomically(const std::filesystem::path& file, const std::string& text) {
    const std::filesystem::path tmp = file.string() + ".new";
    ::unlink(tmp.c_str());
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw AdminError("cannot create " + tmp.string() + ": " + std::strerror(errno));
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) break;
        done += static_cast<std::size_t>(n);
    }
    const bool ok = done == text.size() && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
        ::unlink(tmp.c_str());
        throw AdminError("cannot write " + file.string() + ": " + std::strerror(errno));
    }
}

// A private 0700 directory, removed with its contents.
class ScratchDir {
public:
    ScratchDir() {
        const char* tmp = std::getenv("TMPDIR");
        std::string templ = std::string(tmp && *tmp == '/' ? tmp : "/tmp") + "/mdcrypt-keys.XXXXXX";
        if (::mkdtemp(templ.data()) == nullptr) throw AdminError(std::string("cannot create a private directory: ") + std::strerror(errno));
        path_ = templ;
    }
    ~ScratchDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// gpg --import of `data` into `home`; every key must be imported or found unchanged.
void gpg_import(const std::filesystem::path& home, const std::filesystem::path& gpg, std::string_view data, std::size_t keys) {
    GpgEngine engine(home, gpg);
    GpgmeContext ctx = engine.new_context();
    gpgme_set_offline(ctx.get(), 1);
    gpgme_data_t raw = nullptr;
    if (const gpgme_error_t err = gpgme_data_new_from_mem(&raw, data.data(), data.size(), 1))
        throw AdminError("gpgme_data_new_from_mem: " + gpgme_error_text(err));
    const GpgmeData in(raw);
    if (const gpgme_error_t err = gpgme_op_import(ctx.get(), in.get()))
        throw AdminError("gpg --import into " + home.string() + " failed: " + gpgme_error_text(err) + " (gpg: " +
                         gpg_diagnostics(ctx.get()) + ")");
    const gpgme_import_result_t result = gpgme_op_import_result(ctx.get());
    if (!result || result->not_imported > 0 || static_cast<std::size_t>(result->considered) < keys)
        throw AdminError("gpg imported only part of the keys into " + home.string() + " (gpg: " + gpg_diagnostics(ctx.get()) + ")");
}

}  // namespace

bool KeyReport::usable() const {
    return std::any_of(addresses.begin(), addresses.end(), [](const Address& a) { return a.usable; });
}

KeyringAdmin::KeyringAdmin(std::filesystem::path home, TrustModel trust, std::filesystem::path gpg_program)
    : home_(std::move(home)), trust_(trust), gpg_program_(std::move(gpg_program)) {}

KeyringReport KeyringAdmin::report(std::int64_t now) const {
    KeyringReport report;
    const std::vector<KeyFacts> keys = list(home_, trust_, gpg_program_);
    const std::optional<ExpectedKeys> expected = read_expected(home_);
    report.has_expected_keys = expected.has_value();
    std::vector<std::string> listed;
    for (const auto& key : keys) {
        KeyReport r = judge(key, now);
        r.recorded = expected && std::any_of(expected->keys.begin(), expected->keys.end(),
                                             [&](const ExpectedKey& e) { return same_fingerprint(e.fingerprint, key.fingerprint); });
        report.keys.push_back(std::move(r));
        listed.push_back(key.fingerprint);
    }
    if (expected)
        for (const auto& lost : missing_keys(expected->keys, listed)) report.missing.push_back(lost.fingerprint);
    return report;
}

std::vector<KeyReport> KeyringAdmin::import_keys(std::string_view key_data, std::int64_t now) const {
    const SplitKeys split = split_public_keys(key_data);
    if (!split.ok()) throw AdminError("not importing: " + split.error);

    // Judge the keys as the milter would, in a scratch home, before the server keyring sees them.
    std::vector<KeyReport> judged;
    {
        ScratchDir scratch;
        const std::filesystem::path home = scratch.path() / "gnupg";
        std::filesystem::create_directory(home);
        std::filesystem::permissions(home, std::filesystem::perms::owner_all);
        // A scratch home needs no agent; one started by the import would outlive the directory.
        write_atomically(home / "gpg.conf", "no-autostart\n");
        gpg_import(home, gpg_program_, key_data, split.keys.size());
        for (const auto& key : list(home, TrustModel::ServerKeyring, gpg_program_)) judged.push_back(judge(key, now));
    }
    for (const auto& key : judged) {
        if (key.addresses.empty())
            throw AdminError("not importing: key " + key.fingerprint + " has no user ID with an e-mail address");
        if (!key.usable())
            throw AdminError("not importing: key " + key.fingerprint + " cannot be used for " + key.addresses.front().address +
                             ": " + key.addresses.front().reason);
    }
    const KeyringReport before = report(now);
    if (!before.missing.empty())
        throw AdminError("not importing: the keyring lacks " + std::to_string(before.missing.size()) + " recorded key(s), first " +
                         before.missing.front() + "; restore them, or run mdcrypt-keys record if they were removed on purpose");

    gpg_import(home_, gpg_program_, key_data, split.keys.size());
    record();
    std::vector<KeyReport> imported;
    for (auto& key : report(now).keys)
        if (std::any_of(judged.begin(), judged.end(), [&](const KeyReport& j) { return same_fingerprint(j.fingerprint, key.fingerprint); }))
            imported.push_back(std::move(key));
    return imported;
}

std::vector<std::string> KeyringAdmin::remove(std::string_view fingerprint_or_address) const {
    const std::string wanted = to_lower_ascii(fingerprint_or_address);
    std::vector<std::string> removed;
    GpgEngine engine(home_, gpg_program_);
    for (const auto& key : list(home_, trust_, gpg_program_)) {
        const auto addresses = addresses_of(key);
        if (!same_fingerprint(key.fingerprint, wanted) && std::find(addresses.begin(), addresses.end(), wanted) == addresses.end())
            continue;
        GpgmeContext ctx = engine.new_context();
        gpgme_set_offline(ctx.get(), 1);
        gpgme_key_t raw = nullptr;
        if (const gpgme_error_t err = gpgme_get_key(ctx.get(), key.fingerprint.c_str(), &raw, 0))
            throw AdminError("cannot find key " + key.fingerprint + " in " + home_.string() + ": " + gpgme_error_text(err));
        const GpgmeKey handle(raw);
        if (const gpgme_error_t err = gpgme_op_delete_ext(ctx.get(), handle.get(), GPGME_DELETE_FORCE))
            throw AdminError("cannot remove key " + key.fingerprint + ": " + gpgme_error_text(err) + " (gpg: " +
                             gpg_diagnostics(ctx.get()) + ")");
        removed.push_back(key.fingerprint);
    }
    if (removed.empty()) throw AdminError("no key with fingerprint or address '" + std::string(fingerprint_or_address) + "' in " + home_.string());
    record();
    return removed;
}

std::size_t KeyringAdmin::record() const {
    std::vector<ExpectedKey> expected;
    for (const auto& key : list(home_, trust_, gpg_program_)) expected.push_back({key.fingerprint, addresses_of(key)});
    write_atomically(home_ / kExpectedKeysFile, format_expected_keys(expected));
    return expected.size();
}

}  // namespace mdcrypt::keytool
