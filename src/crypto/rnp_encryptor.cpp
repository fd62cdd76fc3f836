#include "crypto/rnp_encryptor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <optional>
#include <set>
#include <string>

#include "core/openpgp_keys.hpp"
#include "core/openpgp_message_check.hpp"
#include "core/text.hpp"
#include "crypto/callback_streams.hpp"
#include "crypto/encryption_key_names.hpp"

namespace mdcrypt {

namespace {

// Idle ffi objects kept for reuse; more are made when more operations run at once, and dropped after.
constexpr std::size_t kMaxIdleKeyrings = 64;

// As gpg's listing of a keyring (key_index.cpp): a keyring is read whole, and a larger one is refused.
constexpr std::uint64_t kMaxKeyringFile = std::uint64_t{256} << 20;

// The file's bytes and the stamp of exactly what was read. A missing file is no keyring: nullopt.
std::optional<std::string> read_keyring_file(const std::filesystem::path& file, FileStamp& stamp) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            stamp = FileStamp{};
            return std::nullopt;
        }
        throw EncryptError("cannot read keyring " + file.string() + ": " + std::strerror(errno));
    }
    struct stat st {};
    std::string bytes;
    const auto fail = [&](int error) {
        ::close(fd);
        throw EncryptError("cannot read keyring " + file.string() + ": " + std::strerror(error));
    };
    if (::fstat(fd, &st) != 0) fail(errno);
    stamp = stamp_of(st);
    if (static_cast<std::uint64_t>(st.st_size) > kMaxKeyringFile) {
        ::close(fd);
        throw EncryptError("cannot read keyring " + file.string() + ": it holds " + std::to_string(st.st_size) +
                           " bytes, more than the " + std::to_string(kMaxKeyringFile >> 20) + " MiB a keyring may have");
    }
    bytes.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(errno);
        if (n == 0) break;  // shrank meanwhile: the stamp differs from the next stat, so it is read again
        done += static_cast<std::size_t>(n);
    }
    bytes.resize(done);
    ::close(fd);
    return bytes;
}

// librnp calls these from inside rnp_op_encrypt_execute (callback_streams.hpp).
bool read_from_source(void* context, void* buffer, size_t size, size_t* read) noexcept {
    auto* stream = static_cast<SourceStream*>(context);
    try {
        *read = stream->source.read(std::span<char>(static_cast<char*>(buffer), size));
        return true;
    } catch (...) {
        stream->error = std::current_exception();
        *read = 0;
        return false;
    }
}

bool write_to_sink(void* context, const void* buffer, size_t size) noexcept {
    auto* stream = static_cast<SinkStream*>(context);
    if (stream->error) return false;
    try {
        stream->sink.write(std::string_view(static_cast<const char*>(buffer), size));
        return true;
    } catch (...) {
        stream->error = std::current_exception();
        return false;
    }
}

bool flag(rnp_result_t (*query)(rnp_key_handle_t, bool*), rnp_key_handle_t key) {
    bool value = false;
    return query(key, &value) == RNP_SUCCESS && value;
}

bool usable_for_encryption(rnp_key_handle_t key) {
    bool encrypts = false;
    if (rnp_key_allows_usage(key, "encrypt", &encrypts) != RNP_SUCCESS || !encrypts) return false;
    return flag(rnp_key_is_valid, key) && !flag(rnp_key_is_revoked, key) && !flag(rnp_key_is_expired, key);
}

std::uint32_t creation_of(rnp_key_handle_t key) {
    std::uint32_t created = 0;
    (void)rnp_key_get_creation(key, &created);
    return created;
}

// The key gpg 2.2 encrypts to for this primary key (getkey.c, finish_lookup): of the valid,
// unrevoked, unexpired, encryption-capable subkeys the newest, the first of equally new ones; the
// primary key only when no subkey qualifies.
struct ChosenKey {
    RnpKey subkey;         // set when a subkey was chosen
    bool primary = false;  // no subkey qualifies, the primary key does
};

ChosenKey choose_encryption_key(rnp_key_handle_t primary) {
    ChosenKey chosen;
    std::uint32_t best_created = 0;
    std::size_t count = 0;
    (void)rnp_key_get_subkey_count(primary, &count);
    for (std::size_t i = 0; i < count; ++i) {
        rnp_key_handle_t raw = nullptr;
        if (rnp_key_get_subkey_at(primary, i, &raw) != RNP_SUCCESS || !raw) continue;
        RnpKey subkey(raw);
        if (!usable_for_encryption(subkey.get())) continue;
        const std::uint32_t created = creation_of(subkey.get());
        if (!chosen.subkey || created > best_created) {
            chosen.subkey = std::move(subkey);
            best_created = created;
        }
    }
    if (!chosen.subkey) chosen.primary = usable_for_encryption(primary);
    return chosen;
}

std::string fingerprint_of(rnp_key_handle_t key) {
    char* text = nullptr;
    if (rnp_key_get_fprint(key, &text) != RNP_SUCCESS || !text) return "?";
    RnpBuffer owned(text);
    return owned.get();
}

}  // namespace

RnpEncryptor::RnpEncryptor(std::filesystem::path home, RnpCompression compression)
    : home_(std::move(home)), compression_(compression) {}

RnpEncryptor::~RnpEncryptor() = default;

std::unique_ptr<RnpEncryptor::LoadedKeyring> RnpEncryptor::load_keyring() const {
    auto keyring = std::make_unique<LoadedKeyring>();
    keyring->ffi = new_rnp_ffi();
    // gpg uses pubring.kbx when it exists, else pubring.gpg (as the key index reads them).
    const std::filesystem::path kbx = home_ / "pubring.kbx", gpg = home_ / "pubring.gpg";
    std::optional<std::string> bytes = read_keyring_file(kbx, keyring->kbx);
    const char* format = "KBX";
    std::filesystem::path file = kbx;
    if (!bytes) {
        bytes = read_keyring_file(gpg, keyring->gpg);
        format = "GPG";
        file = gpg;
    } else {
        keyring->gpg = stat_file(gpg);
    }
    if (!bytes || bytes->empty()) return keyring;  // no keys yet
    RnpInput input = rnp_memory_input(*bytes);
    if (const rnp_result_t r = rnp_load_keys(keyring->ffi.get(), format, input.get(), RNP_LOAD_SAVE_PUBLIC_KEYS)) {
        throw EncryptError(rnp_keyring_load_error(file.string(), *bytes, file == kbx, r));
    }
    return keyring;
}

std::unique_ptr<RnpEncryptor::LoadedKeyring> RnpEncryptor::borrow_keyring() {
    const FileStamp kbx = stat_file(home_ / "pubring.kbx"), gpg = stat_file(home_ / "pubring.gpg");
    {
        std::lock_guard lock(mutex_);
        while (!idle_.empty()) {
            std::unique_ptr<LoadedKeyring> keyring = std::move(idle_.back());
            idle_.pop_back();
            if (keyring->kbx == kbx && keyring->gpg == gpg) return keyring;
            // Loaded before the keyring changed: every idle one is as old or older.
            idle_.clear();
        }
    }
    return load_keyring();  // outside the lock: other operations go on meanwhile
}

void RnpEncryptor::give_back(std::unique_ptr<LoadedKeyring> keyring) {
    std::lock_guard lock(mutex_);
    if (idle_.size() < kMaxIdleKeyrings) idle_.push_back(std::move(keyring));
}

void RnpEncryptor::encrypt_to(ByteSource& plaintext, std::span<const EncryptionKey> keys, ByteSink& armored) {
    if (keys.empty()) throw EncryptError("no recipient keys to encrypt to");
    bool any_keyring_key = false, any_key_block = false;
    for (const auto& key : keys) {
        if (!is_fingerprint(key.fingerprint)) throw EncryptError("not a key fingerprint: '" + printable(key.fingerprint) + "'");
        (key.key_block ? any_key_block : any_keyring_key) = true;
    }
    const std::string who = "encryption to " + describe_keys(keys) + " with RNP and GnuPG home " + home_.string();

    // Keys from files go into an ffi object of this operation alone, never back to the idle ones.
    std::unique_ptr<LoadedKeyring> keyring;
    try {
        if (!any_key_block) {
            keyring = borrow_keyring();
        } else if (any_keyring_key) {
            keyring = load_keyring();
        } else {
            keyring = std::make_unique<LoadedKeyring>();
            keyring->ffi = new_rnp_ffi();
        }
        for (const auto& key : keys) {
            if (!key.key_block) continue;
            const SplitKeys split = split_public_keys(*key.key_block);
            if (!split.ok() || split.keys.size() != 1 || !iequals(split.keys.front().fingerprint, key.fingerprint))
                throw EncryptError("the key block given for " + key.fingerprint + " is not exactly that one key");
            RnpInput input = rnp_memory_input(*key.key_block);
            if (const rnp_result_t r = rnp_import_keys(keyring->ffi.get(), input.get(), RNP_LOAD_SAVE_PUBLIC_KEYS, nullptr))
                throw EncryptError(rnp_error_text(("cannot import the key file's key " + key.fingerprint).c_str(), r));
        }
    } catch (const EncryptError& e) {
        throw EncryptError(who + " failed: " + e.what());
    }
    rnp_ffi_t ffi = keyring->ffi.get();

    SourceStream source{plaintext, nullptr};
    CheckingSink checked(armored);
    SinkStream sink{checked, nullptr};
    rnp_input_t raw_input = nullptr;
    if (const rnp_result_t r = rnp_input_from_callback(&raw_input, read_from_source, nullptr, &source))
        throw EncryptError(who + " failed: " + rnp_error_text("rnp_input_from_callback", r));
    RnpInput input(raw_input);
    rnp_output_t raw_output = nullptr;
    if (const rnp_result_t r = rnp_output_to_callback(&raw_output, write_to_sink, nullptr, &sink))
        throw EncryptError(who + " failed: " + rnp_error_text("rnp_output_to_callback", r));
    RnpOutput output(raw_output);
    rnp_op_encrypt_t raw_op = nullptr;
    if (const rnp_result_t r = rnp_op_encrypt_create(&raw_op, ffi, input.get(), output.get()))
        throw EncryptError(who + " failed: " + rnp_error_text("rnp_op_encrypt_create", r));
    RnpOpEncrypt op(raw_op);

    std::set<std::string> added;  // subkey fingerprints: one session key packet per key, as gpg writes
    for (const auto& key : keys) {
        rnp_key_handle_t raw = nullptr;
        if (const rnp_result_t r = rnp_locate_key(ffi, "fingerprint", key.fingerprint.c_str(), &raw))
            throw EncryptError(who + " failed: " + rnp_error_text(("looking up " + key.fingerprint).c_str(), r));
        RnpKey primary(raw);
        if (!primary)
            throw EncryptError(who + " failed: key " + key.fingerprint + " is not in " +
                               (key.key_block ? std::string("its key file") : "the keyring of " + home_.string()));
        const ChosenKey chosen = choose_encryption_key(primary.get());
        rnp_key_handle_t recipient = chosen.subkey ? chosen.subkey.get() : chosen.primary ? primary.get() : nullptr;
        if (!recipient)
            // Worded like the GPGME engine's refusal (gpg's invalid recipient), so both read the same.
            throw EncryptError(who + " failed: key " + key.fingerprint +
                               " rejected: no valid, unrevoked, unexpired encryption key (RNP)");
        if (!added.insert(fingerprint_of(recipient)).second) continue;
        if (const rnp_result_t r = rnp_op_encrypt_add_recipient(op.get(), recipient))
            throw EncryptError(who + " failed: " +
                               rnp_error_text(("adding recipient " + fingerprint_of(recipient) + " of " + key.fingerprint).c_str(), r));
    }
    // What GnuPG 2.2, sqop and rnp all read. No compression: see docs/design.md (engine choice).
    rnp_result_t r = rnp_op_encrypt_set_armor(op.get(), true);
    if (!r) r = rnp_op_encrypt_set_cipher(op.get(), "AES256");
    if (!r) r = rnp_op_encrypt_set_aead(op.get(), "None");
    if (!r)
        r = compression_ == RnpCompression::Zlib ? rnp_op_encrypt_set_compression(op.get(), "ZLIB", 6)
                                                 : rnp_op_encrypt_set_compression(op.get(), "Uncompressed", 0);
    if (r) throw EncryptError(who + " failed: " + rnp_error_text("setting up the operation", r));

    r = rnp_op_encrypt_execute(op.get());
    if (!r) r = rnp_output_finish(output.get());
    op.reset();
    output.reset();
    input.reset();
    if (source.error) std::rethrow_exception(source.error);
    if (sink.error) std::rethrow_exception(sink.error);
    if (r) throw EncryptError(who + " failed: " + rnp_error_text("rnp_op_encrypt_execute", r));
    if (const std::optional<std::string> incomplete = checked.finish())
        throw EncryptError(who + " failed: the output is not a complete OpenPGP message: " + *incomplete);
    if (!any_key_block) give_back(std::move(keyring));
}

}  // namespace mdcrypt
