// Owners for GPGME's C handles, one-time library initialisation, and error text.
//
// Every gpgme_ctx_t, gpgme_data_t and gpgme_key_t gets an owner on the line that creates it. A context
// serves one operation on one thread; keys are refcounted and immutable once listed, so threads may
// share them read-only.
#pragma once

#include <gpgme.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace mdcrypt {

struct GpgmeContextDeleter {
    void operator()(gpgme_ctx_t ctx) const noexcept { gpgme_release(ctx); }
};
struct GpgmeDataDeleter {
    void operator()(gpgme_data_t data) const noexcept { gpgme_data_release(data); }
};
struct GpgmeKeyDeleter {
    void operator()(gpgme_key_t key) const noexcept { gpgme_key_unref(key); }
};

using GpgmeContext = std::unique_ptr<std::remove_pointer_t<gpgme_ctx_t>, GpgmeContextDeleter>;
using GpgmeData = std::unique_ptr<std::remove_pointer_t<gpgme_data_t>, GpgmeDataDeleter>;
using GpgmeKey = std::unique_ptr<std::remove_pointer_t<gpgme_key_t>, GpgmeKeyDeleter>;

// GPGME or the gpg engine is unusable (not installed, too old, misconfigured).
class GpgmeInitError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Initialises GPGME once per process, thread-safely: version check, locale, and a check that the
// OpenPGP engine (gpg) is installed and new enough. Throws GpgmeInitError naming what is wrong; a later
// call after a failure tries again. Also ignores SIGPIPE if it is at its default disposition: GPGME
// writes message data into a pipe to gpg, and a gpg that exits early must give an error, not kill us.
void init_gpgme();

// "source: description" for a GPGME error code, e.g. "GPGME: No public key".
std::string gpgme_error_text(gpgme_error_t err);

// What gpg itself said (its diagnostics, normally on stderr) during the last operation on `ctx`: the
// lines joined with "; ", control characters removed, the last `keep` bytes; empty if nothing.
std::string gpg_diagnostics(gpgme_ctx_t ctx, std::size_t keep = 1000);

// gpg's diagnostic text (its stderr) as gpg_diagnostics gives it: one line, as described there.
std::string gpg_diagnostic_line(std::string_view text, std::size_t keep = 1000);

}  // namespace mdcrypt
