#include "crypto/gpgme_encryptor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <vector>

#include "core/openpgp_keys.hpp"
#include "core/openpgp_message_check.hpp"
#include "core/text.hpp"
#include "crypto/callback_streams.hpp"
#include "crypto/encryption_key_names.hpp"
#include "crypto/gpg_operation.hpp"

namespace mdcrypt {

namespace {

// GPGME calls these from inside the encrypt operation (callback_streams.hpp).
ssize_t read_from_source(void* handle, void* buffer, size_t size) noexcept {
    auto* stream = static_cast<SourceStream*>(handle);
    try {
        return static_cast<ssize_t>(stream->source.read(std::span<char>(static_cast<char*>(buffer), size)));
    } catch (...) {
        stream->error = std::current_exception();
        errno = EIO;
        return -1;
    }
}

ssize_t write_to_sink(void* handle, const void* buffer, size_t size) noexcept {
    auto* stream = static_cast<SinkStream*>(handle);
    try {
        stream->sink.write(std::string_view(static_cast<const char*>(buffer), size));
        return static_cast<ssize_t>(size);
    } catch (...) {
        stream->error = std::current_exception();
        errno = EIO;
        return -1;
    }
}

// What gpg's status lines said about the operation (GPGME's status callback, full status).
struct EncryptStatus {
    bool ended = false;    // END_ENCRYPTION: gpg finished writing the message
    bool closed = false;   // gpg's status output ended without END_ENCRYPTION: gpg is gone
    std::string failure;   // FAILURE or ERROR: gpg's own code for what went wrong
};

gpgme_error_t note_encrypt_status(void* hook, const char* keyword, const char* args) noexcept {
    auto* status = static_cast<EncryptStatus*>(hook);
    const std::string_view k = keyword ? keyword : "";
    if (k == "END_ENCRYPTION") {
        status->ended = true;
    } else if ((k == "FAILURE" || k == "ERROR") && status->failure.empty()) {
        status->failure = std::string(k) + " " + printable(args ? args : "");
    } else if (k.empty() && !status->ended) {
        // The status output closed (GPGME passes its end as an empty keyword) before gpg finished: gpg
        // died. The pipes then fail or end, and the operation with them (gpg_operation.cpp).
        status->closed = true;
    }
    return 0;
}

GpgmeData stream_data(gpgme_data_cbs* callbacks, void* handle) {
    gpgme_data_t raw = nullptr;
    if (const gpgme_error_t err = gpgme_data_new_from_cbs(&raw, callbacks, handle))
        throw EncryptError("gpgme_data_new_from_cbs: " + gpgme_error_text(err));
    return GpgmeData(raw);
}

// A fresh 0700 directory for the private copies of one operation's key files; removed with them.
class KeyFileDir {
public:
    explicit KeyFileDir(const std::filesystem::path& parent) {
        std::string templ = (parent / "mdcrypt-keys.XXXXXX").string();
        if (::mkdtemp(templ.data()) == nullptr)
            throw EncryptError("cannot create a private directory for key files under " + parent.string() + ": " +
                               std::strerror(errno));
        path_ = templ;
    }
    ~KeyFileDir() {
        for (const auto& file : files_) ::unlink(file.c_str());
        ::rmdir(path_.c_str());
    }
    KeyFileDir(const KeyFileDir&) = delete;
    KeyFileDir& operator=(const KeyFileDir&) = delete;

    // Writes `bytes` to a new 0600 file in the directory and returns its path.
    std::filesystem::path write(std::string_view bytes) {
        const std::filesystem::path file = path_ / ("key" + std::to_string(files_.size()) + ".gpg");
        const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) throw EncryptError("cannot create " + file.string() + ": " + std::strerror(errno));
        files_.push_back(file);
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                const int error = errno;
                ::close(fd);
                throw EncryptError("cannot write " + file.string() + ": " + std::strerror(error));
            }
            done += static_cast<std::size_t>(n);
        }
        if (::close(fd) != 0) throw EncryptError("cannot write " + file.string() + ": " + std::strerror(errno));
        return file;
    }

private:
    std::filesystem::path path_;
    std::vector<std::filesystem::path> files_;
};

std::filesystem::path default_key_file_dir() {
    const char* tmp = std::getenv("TMPDIR");
    return tmp && *tmp == '/' ? std::filesystem::path(tmp) : std::filesystem::path("/tmp");
}

// A line of GPGME's recipient string: no line break, no white space at either end (GPGME trims it).
bool fits_recipient_line(const std::string& s) {
    return !s.empty() && s.find('\n') == std::string::npos && s.front() != ' ' && s.front() != '\t' &&
           s.back() != ' ' && s.back() != '\t' && !s.starts_with("--");
}

}  // namespace

GpgmeEncryptor::GpgmeEncryptor(std::filesystem::path home, TrustModel trust, std::filesystem::path gpg_program,
                               std::filesystem::path key_file_dir, std::chrono::seconds timeout)
    : engine_(std::move(home), std::move(gpg_program), timeout),
      trust_(trust),
      key_file_dir_(key_file_dir.empty() ? default_key_file_dir() : std::move(key_file_dir)) {}

void GpgmeEncryptor::encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) {
    if (keys.empty()) throw EncryptError("no recipient keys to encrypt to");
    // One "-r FINGERPRINT" per line: gpg resolves fingerprints in the local keyring only, so this
    // starts no key lookup of its own. Then "--file" and one "-f FILE" per key from a key file.
    std::string recipients;
    std::vector<const EncryptionKey*> from_files;
    for (const auto& key : keys) {
        if (!is_fingerprint(key.fingerprint)) throw EncryptError("not a key fingerprint: '" + printable(key.fingerprint) + "'");
        if (key.key_block) from_files.push_back(&key);
        else recipients += key.fingerprint + "\n";
    }
    std::optional<KeyFileDir> key_files;  // removed (with the copies) when this function returns
    if (!from_files.empty()) {
        key_files.emplace(key_file_dir_);
        recipients += "--file\n";
        for (const EncryptionKey* key : from_files) {
            // gpg -f uses the first key of a file: the copy must be exactly the key that was chosen.
            const SplitKeys split = split_public_keys(*key->key_block);
            if (!split.ok() || split.keys.size() != 1 || !iequals(split.keys.front().fingerprint, key->fingerprint))
                throw EncryptError("the key block given for " + key->fingerprint + " is not exactly that one key");
            const std::string file = key_files->write(*key->key_block).string();
            if (!fits_recipient_line(file)) throw EncryptError("unusable key file path " + printable(file));
            recipients += file + "\n";
        }
    }
    const std::string who = "encryption to " + describe_keys(keys) + " with GnuPG home " + engine_.home().string();

    gpgme_data_cbs source_callbacks{read_from_source, nullptr, nullptr, nullptr};
    gpgme_data_cbs sink_callbacks{nullptr, write_to_sink, nullptr, nullptr};
    SourceStream source{plaintext, nullptr};
    CheckingSink checked(armored);
    SinkStream sink{checked, nullptr};
    GpgmeData input = stream_data(&source_callbacks, &source);
    GpgmeData output = stream_data(&sink_callbacks, &sink);

    GpgmeContext ctx;
    try {
        ctx = engine_.new_context();
    } catch (const std::exception& e) {
        throw EncryptError(who + " failed: " + e.what());
    }
    gpgme_set_armor(ctx.get(), 1);
    gpgme_set_offline(ctx.get(), 1);  // --disable-dirmngr: no key servers, no WKD, no CRLs
    // Belt and braces for an administrator's gpg.conf; fingerprint recipients need neither.
    (void)gpgme_set_ctx_flag(ctx.get(), "auto-key-retrieve", "0");
    (void)gpgme_set_ctx_flag(ctx.get(), "auto-key-locate", "local");
    // GPGME does not report gpg's exit status: gpg's own END_ENCRYPTION is the sign it finished.
    EncryptStatus status;
    (void)gpgme_set_ctx_flag(ctx.get(), "full-status", "1");
    gpgme_set_status_cb(ctx.get(), note_encrypt_status, &status);

    auto flags = static_cast<gpgme_encrypt_flags_t>(0);  // never GPGME_ENCRYPT_THROW_KEYIDS
    if (trust_ == TrustModel::ServerKeyring) flags = static_cast<gpgme_encrypt_flags_t>(flags | GPGME_ENCRYPT_ALWAYS_TRUST);

    GpgOperation op(ctx.get(), engine_.timeout());
    gpgme_error_t err = gpgme_op_encrypt_ext_start(ctx.get(), nullptr, recipients.c_str(), flags, input.get(), output.get());
    if (!err) err = op.run();
    op.count_failure(GpgRun::Encrypt, err);

    if (source.error) std::rethrow_exception(source.error);
    if (sink.error) std::rethrow_exception(sink.error);
    if (op.end() != GpgOperation::End::Done) throw EncryptError(who + " failed: " + op.why_ended());

    std::string rejected;
    if (gpgme_encrypt_result_t result = gpgme_op_encrypt_result(ctx.get()))
        for (gpgme_invalid_key_t invalid = result->invalid_recipients; invalid; invalid = invalid->next)
            rejected += "; key " + std::string(invalid->fpr ? invalid->fpr : "(unknown)") + " rejected: " +
                        gpgme_error_text(invalid->reason);
    if (err || !rejected.empty()) {
        const std::string diagnostics = gpg_diagnostics(ctx.get());
        // gpg's own FAILURE says more than the cancellation that its early end caused.
        const std::string what = !status.failure.empty() ? "gpg reported " + status.failure
                                 : status.closed         ? std::string("gpg stopped before finishing the message (killed or crashed)")
                                 : err                   ? gpgme_error_text(err)
                                                         : std::string("GPGME: invalid recipients");
        throw EncryptError(who + " failed: " + what +
                           rejected + (diagnostics.empty() ? "" : " (gpg: " + diagnostics + ")"));
    }
    // A gpg killed while writing, or one that exits 0 after part of the message, gives no error here.
    const std::optional<std::string> incomplete = checked.finish();
    if (!status.ended || !status.failure.empty() || incomplete) {
        metrics().gpg_failure(GpgRun::Encrypt, Metrics::GpgFailure::Failed);
        const std::string diagnostics = gpg_diagnostics(ctx.get(), 300);
        std::string why = !status.failure.empty() ? "gpg reported " + status.failure
                          : !status.ended         ? std::string("gpg did not finish (no END_ENCRYPTION status") +
                                                        (status.closed ? ", it stopped early)" : ")")
                                                  : std::string();
        if (incomplete) why += (why.empty() ? "" : "; ") + std::string("the output is not a complete OpenPGP message: ") + *incomplete;
        throw EncryptError(who + " failed: " + why + (diagnostics.empty() ? "" : " (gpg: " + diagnostics + ")"));
    }
}

}  // namespace mdcrypt
