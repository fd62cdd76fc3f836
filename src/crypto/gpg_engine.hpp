// Which gpg runs, on which GnuPG home, and how an operation gets a GPGME context for it.
//
// Why this exists: giving a context its own engine info (gpgme_ctx_set_engine_info) makes GPGME run
// `gpg --version` every time, an extra process per operation. So one (program, home) at a time is
// GPGME's process-wide default: the first engine to ask claims it (one `gpg --version`), engines with
// the same program and home share it, and their contexts need no engine info of their own, so one
// encryption is exactly one gpg process. Engines for other homes or programs still work but pay the
// extra process per context. The claim is released when the last engine holding it is destroyed, and
// the next engine to ask takes it over. A milter has one home, so it never pays. Nothing else in the
// process may call gpgme_set_engine_info.
#pragma once

#include <chrono>
#include <filesystem>

#include "core/config.hpp"
#include "crypto/gpgme_handles.hpp"

namespace mdcrypt {

// [gnupg] timeout_seconds' default.
inline const std::chrono::seconds kDefaultGpgTimeout{GnupgSettings{}.timeout_seconds};

class GpgEngine {
public:
    // `home` must be an existing directory; `gpg_program` empty means GPGME's default gpg; each
    // operation gets `timeout` before gpg is killed (gpg_operation.hpp). Calls init_gpgme(). Throws
    // GpgmeInitError when the home or the program is unusable.
    explicit GpgEngine(std::filesystem::path home, std::filesystem::path gpg_program = {},
                       std::chrono::seconds timeout = kDefaultGpgTimeout);
    ~GpgEngine();
    GpgEngine(const GpgEngine&) = delete;
    GpgEngine& operator=(const GpgEngine&) = delete;

    // A fresh OpenPGP context for one operation on this home. Thread-safe. Throws std::runtime_error.
    GpgmeContext new_context() const;

    const std::filesystem::path& home() const { return home_; }
    const std::filesystem::path& gpg_program() const { return program_; }  // resolved, never empty
    std::chrono::seconds timeout() const { return timeout_; }
    // Runs gpg once (a listing of a key nobody has) within the timeout; throws std::runtime_error
    // saying why it did not succeed. For health checks.
    void probe() const;

    // Whether this engine's contexts currently use the process default (no extra process each).
    bool uses_process_default() const;

private:
    bool claim_process_default() const;

    std::filesystem::path home_;
    std::filesystem::path program_;
    std::chrono::seconds timeout_;
    mutable bool holds_default_ = false;  // guarded by the claim state's mutex in gpg_engine.cpp
};

}  // namespace mdcrypt
