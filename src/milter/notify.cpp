#include "milter/notify.hpp"

#include <string>

#ifdef MDCRYPT_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace mdcrypt::milter {

#ifdef MDCRYPT_HAVE_SYSTEMD
// unset_environment 0: NOTIFY_SOCKET stays for STOPPING=1 later. gpg children inherit it, but the
// unit's NotifyAccess=main makes systemd ignore anything but the daemon's own process.
void notify_ready(std::string_view status) {
    const std::string message = "READY=1\nSTATUS=" + std::string(status);
    sd_notify(0, message.c_str());
}
void notify_stopping() { sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing messages in progress"); }
bool notify_supported() { return true; }
#else
void notify_ready(std::string_view) {}
void notify_stopping() {}
bool notify_supported() { return false; }
#endif

}  // namespace mdcrypt::milter
