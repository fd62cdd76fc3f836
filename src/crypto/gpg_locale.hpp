// gpg translates its diagnostics from the locale it inherits (systemd passes the system locale to
// services; Debian's gnupg-l10n ships the translations), and this program reads those diagnostics.
#pragma once

namespace mdcrypt {

// Sets LC_ALL=C and LANGUAGE=C in this process's environment, which every gpg it starts (through GPGME)
// inherits, so gpg's words are the same on every server. Call at the start of main, before any thread
// exists: setenv is not safe beside other threads.
void pin_gpg_locale();

}  // namespace mdcrypt
