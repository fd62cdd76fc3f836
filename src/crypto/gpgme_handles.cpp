#include "crypto/gpgme_handles.hpp"

#include <clocale>
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <mutex>

namespace mdcrypt {

namespace {

// The oldest GPGME with everything used here (gpgme_op_encrypt_ext, ctx flags, key->fpr, and
// gpgme_op_keylist_from_data_start for key files, 1.14).
constexpr const char* kMinimumGpgme = "1.14.0";

std::mutex init_mutex;
bool initialised = false;  // guarded by init_mutex

// GPGME forks gpg from whichever thread runs the operation; libmilter's workers block HUP, INT and
// TERM, and a blocked mask survives exec: gpg could then be stopped by nothing but SIGKILL. The child
// gets a clean mask (sigprocmask is async-signal-safe, as a handler between fork and exec must be).
void unblock_signals_in_child() noexcept {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

void ignore_default_sigpipe() {
    struct sigaction current{};
    if (::sigaction(SIGPIPE, nullptr, &current) != 0) return;
    if (current.sa_handler != SIG_DFL) return;  // the application chose: leave it alone
    struct sigaction ignore{};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    ::sigaction(SIGPIPE, &ignore, nullptr);
}

}  // namespace

std::string gpgme_error_text(gpgme_error_t err) {
    char buffer[256] = {};
    gpgme_strerror_r(err, buffer, sizeof buffer);
    return std::string(gpgme_strsource(err)) + ": " + buffer;
}

std::string gpg_diagnostics(gpgme_ctx_t ctx, std::size_t keep) {
    constexpr std::size_t kReadAtMost = 1 << 20;
    gpgme_data_t raw = nullptr;
    if (gpgme_data_new(&raw) != 0) return {};
    GpgmeData data(raw);
    if (gpgme_op_getauditlog(ctx, data.get(), GPGME_AUDITLOG_DIAG) != 0) return {};
    if (gpgme_data_seek(data.get(), 0, SEEK_SET) != 0) return {};
    std::string text;
    char buffer[4096];
    ssize_t n = 0;
    while (text.size() < kReadAtMost && (n = gpgme_data_read(data.get(), buffer, sizeof buffer)) > 0)
        text.append(buffer, static_cast<std::size_t>(n));
    return gpg_diagnostic_line(text, keep);
}

std::string gpg_diagnostic_line(std::string_view text, std::size_t keep) {
    std::string joined;
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '\n') {
            if (!joined.empty() && joined.back() != ' ') joined += "; ";
        } else if (u >= 0x20 && u != 0x7f) {
            joined.push_back(c);
        }
    }
    while (!joined.empty() && (joined.back() == ' ' || joined.back() == ';')) joined.pop_back();
    if (joined.size() > keep) joined = "..." + joined.substr(joined.size() - keep);
    return joined;
}

void init_gpgme() {
    std::lock_guard lock(init_mutex);
    if (initialised) return;

    if (gpgme_check_version(kMinimumGpgme) == nullptr)
        throw GpgmeInitError(std::string("GPGME ") + gpgme_check_version(nullptr) + " is too old; " + kMinimumGpgme +
                             " or newer is needed");
    // The locale matters: gpg's diagnostics are read (key_index.cpp) and quoted in error texts, and gpg
    // translates them from its environment, which the programs pin to C (gpg_locale.hpp). These two
    // only reach gpg-agent's pinentry, which a server never shows; keep them C as well.
    gpgme_set_locale(nullptr, LC_CTYPE, "C");
#ifdef LC_MESSAGES
    gpgme_set_locale(nullptr, LC_MESSAGES, "C");
#endif
    if (const gpgme_error_t err = gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP)) {
        gpgme_engine_info_t info = nullptr;
        std::string which = "gpg";
        if (gpgme_get_engine_info(&info) == 0)
            for (; info; info = info->next)
                if (info->protocol == GPGME_PROTOCOL_OpenPGP && info->file_name) {
                    which = std::string(info->file_name) + " (version " + (info->version ? info->version : "unknown") +
                            ", needed " + (info->req_version ? info->req_version : "?") + ")";
                    break;
                }
        throw GpgmeInitError("the OpenPGP engine " + which + " is not usable: " + gpgme_error_text(err));
    }
    ignore_default_sigpipe();
    ::pthread_atfork(nullptr, nullptr, unblock_signals_in_child);
    initialised = true;
}

}  // namespace mdcrypt
