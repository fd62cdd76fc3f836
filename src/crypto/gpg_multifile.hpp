// Many messages to the same keys in one gpg process (`gpg --encrypt --multifile`), for
// mdcrypt-mailbox: starting gpg costs more than encrypting a typical message, so a stored mailbox
// encrypts several times faster this way than with one gpg (one GPGME operation) per message.
//
// gpg reads each message through a name in a private directory that is a symlink to /dev/fd/N, the
// message's unlinked file inherited by gpg, so no plaintext ever has a name on disk; it writes
// NAME.asc (ciphertext) beside it. gpg says per file what happened (FILE_START, END_ENCRYPTION,
// FILE_DONE); a message counts as encrypted only when gpg said END_ENCRYPTION for it, reported no
// failure for it and its output passes the same armor and packet check as the GPGME engine's.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch_encryptor.hpp"
#include "core/config.hpp"

namespace mdcrypt {

// What gpg's status output said about each of the files it was given, in order.
struct MultifileStatus {
    bool ended = false;   // END_ENCRYPTION inside the file's FILE_START ... FILE_DONE
    std::string failure;  // FAILURE, ERROR, INV_RECP or NO_RECP about it (or about all files)
};

// Pure: `status` is gpg's --status-fd output, `names` the file names in the order given to gpg.
// A file gpg never started, or started out of order, is not ended.
std::vector<MultifileStatus> parse_multifile_status(std::string_view status, std::span<const std::string> names);

class GpgMultifileEncryptor final : public BatchEncryptor {
public:
    // `gpg_program` must be a path (GpgEngine::gpg_program() resolves GPGME's default). Under
    // TrustModel::ServerKeyring every key in `home` is trusted (--always-trust), as GpgmeEncryptor
    // does. A run of N messages gets N times `timeout_per_message` before gpg is killed.
    GpgMultifileEncryptor(std::filesystem::path gpg_program, std::filesystem::path home, TrustModel trust,
                          std::chrono::seconds timeout_per_message);

    // One gpg for all of `plaintexts` (gpg reopens them through /dev/fd), to keyring keys. gpg's
    // files are removed once read into the spools.
    std::vector<BatchEncrypted> encrypt_files(std::span<const int> plaintexts, std::span<const std::string> fingerprints,
                                              const SpoolSettings& spool) const override;

    // The argv of one run (pure, for tests and error texts).
    std::vector<std::string> argv(std::span<const std::string> fingerprints, std::span<const std::string> files) const;

private:
    std::filesystem::path gpg_program_;
    std::filesystem::path home_;
    TrustModel trust_;
    std::chrono::seconds timeout_per_message_;
};

}  // namespace mdcrypt
