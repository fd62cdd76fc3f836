#include "crypto/gpg_locale.hpp"

#include <cstdlib>

namespace mdcrypt {

void pin_gpg_locale() {
    ::setenv("LC_ALL", "C", 1);
    ::setenv("LANGUAGE", "C", 1);  // gettext reads it before LC_ALL for some programs
}

}  // namespace mdcrypt
