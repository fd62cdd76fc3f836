#include "crypto/gpg_engine.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <mutex>
#include <optional>
#include <string>

#include "crypto/gpg_operation.hpp"

namespace mdcrypt {

namespace {

struct DefaultClaim {
    std::string program;
    std::string home;
    std::size_t holders = 0;
};

struct ClaimState {
    std::mutex mutex;
    std::optional<DefaultClaim> claim;  // guarded by mutex
};

// Never destroyed: engines owned by static objects may outlive this file's statics at exit.
ClaimState& claims() {
    static ClaimState* const state = new ClaimState;
    return *state;
}

// GPGME's own choice of gpg, read once before any claim changes the process-wide engine info.
std::filesystem::path read_default_gpg_program() {
    gpgme_engine_info_t info = nullptr;
    if (const gpgme_error_t err = gpgme_get_engine_info(&info))
        throw GpgmeInitError("cannot read GPGME's engine info: " + gpgme_error_text(err));
    for (; info; info = info->next)
        if (info->protocol == GPGME_PROTOCOL_OpenPGP && info->file_name) return info->file_name;
    throw GpgmeInitError("GPGME knows no OpenPGP engine (gpg)");
}

const std::filesystem::path& default_gpg_program() {
    static const std::filesystem::path program = read_default_gpg_program();
    return program;
}

}  // namespace

GpgEngine::GpgEngine(std::filesystem::path home, std::filesystem::path gpg_program, std::chrono::seconds timeout)
    : timeout_(timeout) {
    init_gpgme();
    home_ = std::filesystem::absolute(home).lexically_normal();
    struct stat st{};
    if (::stat(home_.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw GpgmeInitError("GnuPG home " + home_.string() + " is not an existing directory");

    program_ = gpg_program.empty() ? default_gpg_program() : std::filesystem::absolute(gpg_program).lexically_normal();
    if (::access(program_.c_str(), X_OK) != 0)
        throw GpgmeInitError("gpg program " + program_.string() + " is not an executable file");

    // Claim (or check) the engine now rather than on the first message.
    if (!claim_process_default()) {
        GpgmeContext probe = new_context();
        gpgme_engine_info_t info = gpgme_ctx_get_engine_info(probe.get());
        for (; info; info = info->next)
            if (info->protocol == GPGME_PROTOCOL_OpenPGP) break;
        // GPGME puts in "1.0.0" when the program's `--version` gave nothing usable.
        if (!info || !info->version || std::string(info->version) == "1.0.0")
            throw GpgmeInitError(program_.string() + " is not a usable gpg (it reported no version)");
    }
}

GpgEngine::~GpgEngine() {
    ClaimState& state = claims();
    std::lock_guard lock(state.mutex);
    if (holds_default_ && state.claim && --state.claim->holders == 0) state.claim.reset();
}

bool GpgEngine::claim_process_default() const {
    ClaimState& state = claims();
    std::lock_guard lock(state.mutex);
    auto& claim = state.claim;
    if (holds_default_) return true;
    if (!claim) {
        default_gpg_program();  // remember GPGME's default before changing it
        if (const gpgme_error_t err = gpgme_set_engine_info(GPGME_PROTOCOL_OpenPGP, program_.c_str(), home_.c_str()))
            throw GpgmeInitError("cannot set the gpg engine to " + program_.string() + ": " + gpgme_error_text(err));
        if (const gpgme_error_t err = gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP))
            throw GpgmeInitError(program_.string() + " is not a usable gpg (no version, or too old): " +
                                 gpgme_error_text(err));
        claim.emplace(DefaultClaim{program_.string(), home_.string(), 0});
    }
    if (claim->program != program_.string() || claim->home != home_.string()) return false;
    ++claim->holders;
    holds_default_ = true;
    return true;
}

bool GpgEngine::uses_process_default() const {
    std::lock_guard lock(claims().mutex);
    return holds_default_;
}

void GpgEngine::probe() const {
    GpgmeContext ctx = new_context();
    GpgOperation op(ctx.get(), timeout_);
    gpgme_error_t err = gpgme_op_keylist_start(ctx.get(), "<mdcrypt-health-probe@invalid>", 0);
    if (!err) err = op.run();
    if (op.end() != GpgOperation::End::Done) throw std::runtime_error(op.why_ended());
    if (err) throw std::runtime_error(program_.string() + " on " + home_.string() + ": " + gpgme_error_text(err));
}

GpgmeContext GpgEngine::new_context() const {
    const bool use_default = claim_process_default();
    gpgme_ctx_t raw = nullptr;
    if (const gpgme_error_t err = gpgme_new(&raw)) throw std::runtime_error("gpgme_new: " + gpgme_error_text(err));
    GpgmeContext ctx(raw);
    if (const gpgme_error_t err = gpgme_set_protocol(ctx.get(), GPGME_PROTOCOL_OpenPGP))
        throw std::runtime_error("gpgme_set_protocol: " + gpgme_error_text(err));
    if (!use_default) {
        if (const gpgme_error_t err =
                gpgme_ctx_set_engine_info(ctx.get(), GPGME_PROTOCOL_OpenPGP, program_.c_str(), home_.c_str()))
            throw std::runtime_error("cannot set the gpg engine " + program_.string() + " for GnuPG home " +
                                     home_.string() + ": " + gpgme_error_text(err));
    }
    return ctx;
}

}  // namespace mdcrypt
