#include "crypto/gpgme_encryptor.hpp"

#include <cerrno>
#include <exception>

namespace mdcrypt {

namespace {

bool is_fingerprint(std::string_view s) {
    if (s.size() != 40 && s.size() != 64) return false;  // v4, v5
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

// Shows a rejected "fingerprint" without letting odd bytes into a log line.
std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 80)) {
        const auto u = static_cast<unsigned char>(c);
        out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
    }
    return s.size() > 80 ? out + "..." : out;
}

// GPGME calls these from inside gpgme_op_encrypt_ext, on this thread. Exceptions must not unwind through
// C frames: they are kept here, the callback reports an I/O error, and encrypt() rethrows after the op.
struct SourceStream {
    ByteSource& source;
    std::exception_ptr error;
};

struct SinkStream {
    ByteSink& sink;
    std::exception_ptr error;
};

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

GpgmeData stream_data(gpgme_data_cbs* callbacks, void* handle) {
    gpgme_data_t raw = nullptr;
    if (const gpgme_error_t err = gpgme_data_new_from_cbs(&raw, callbacks, handle))
        throw EncryptError("gpgme_data_new_from_cbs: " + gpgme_error_text(err));
    return GpgmeData(raw);
}

std::string join(std::span<const std::string> fingerprints) {
    std::string out;
    for (const auto& f : fingerprints) out += (out.empty() ? "" : ", ") + f;
    return out;
}

}  // namespace

GpgmeEncryptor::GpgmeEncryptor(std::filesystem::path home, TrustModel trust, std::filesystem::path gpg_program)
    : engine_(std::move(home), std::move(gpg_program)), trust_(trust) {}

void GpgmeEncryptor::encrypt(ByteSource& plaintext, std::span<const std::string> fingerprints, ByteSink& armored) {
    if (fingerprints.empty()) throw EncryptError("no recipient keys to encrypt to");
    // One "-r FINGERPRINT" per line: gpg resolves fingerprints in the local keyring only, so this
    // starts no key lookup of its own.
    std::string recipients;
    for (const auto& fingerprint : fingerprints) {
        if (!is_fingerprint(fingerprint)) throw EncryptError("not a key fingerprint: '" + printable(fingerprint) + "'");
        recipients += fingerprint + "\n";
    }
    const std::string who = "encryption to " + join(fingerprints) + " with GnuPG home " + engine_.home().string();

    gpgme_data_cbs source_callbacks{read_from_source, nullptr, nullptr, nullptr};
    gpgme_data_cbs sink_callbacks{nullptr, write_to_sink, nullptr, nullptr};
    SourceStream source{plaintext, nullptr};
    SinkStream sink{armored, nullptr};
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

    auto flags = static_cast<gpgme_encrypt_flags_t>(0);  // never GPGME_ENCRYPT_THROW_KEYIDS
    if (trust_ == TrustModel::ServerKeyring) flags = static_cast<gpgme_encrypt_flags_t>(flags | GPGME_ENCRYPT_ALWAYS_TRUST);

    const gpgme_error_t err = gpgme_op_encrypt_ext(ctx.get(), nullptr, recipients.c_str(), flags, input.get(), output.get());

    if (source.error) std::rethrow_exception(source.error);
    if (sink.error) std::rethrow_exception(sink.error);

    std::string rejected;
    if (gpgme_encrypt_result_t result = gpgme_op_encrypt_result(ctx.get()))
        for (gpgme_invalid_key_t invalid = result->invalid_recipients; invalid; invalid = invalid->next)
            rejected += "; key " + std::string(invalid->fpr ? invalid->fpr : "(unknown)") + " rejected: " +
                        gpgme_error_text(invalid->reason);
    if (err || !rejected.empty()) {
        const std::string diagnostics = gpg_diagnostics(ctx.get());
        throw EncryptError(who + " failed: " + (err ? gpgme_error_text(err) : std::string("GPGME: invalid recipients")) +
                           rejected + (diagnostics.empty() ? "" : " (gpg: " + diagnostics + ")"));
    }
}

}  // namespace mdcrypt
