// Many messages encrypted to the same keys in one engine run, for mdcrypt-mailbox: with gpg, starting
// the process costs more than encrypting a typical message (crypto/gpg_multifile.hpp).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/spool.hpp"

namespace mdcrypt {

struct BatchEncrypted {
    std::optional<Spool> armored;  // the checked ASCII-armored message; empty when this one failed
    std::string error;             // why not, naming the engine's words and the keys
};

class BatchEncryptor {
public:
    virtual ~BatchEncryptor() = default;
    // Encrypts each of `plaintexts` (open regular files, read whole from their start) to every one of
    // `fingerprints` (keys the engine holds). Result i is about plaintext i; the outputs are in spools
    // of `spool`, whose directory must be private. Never throws for the engine's trouble.
    virtual std::vector<BatchEncrypted> encrypt_files(std::span<const int> plaintexts,
                                                      std::span<const std::string> fingerprints,
                                                      const SpoolSettings& spool) const = 0;
};

}  // namespace mdcrypt
