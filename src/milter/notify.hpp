// The service manager's readiness protocol (sd_notify): Type=notify in mdcrypt-milter.service.
// Without libsystemd at build time (MDCRYPT_SYSTEMD=OFF), or when NOTIFY_SOCKET is not set (not started
// by systemd), every call does nothing.
#pragma once

#include <string_view>

namespace mdcrypt::milter {

// READY=1 with a STATUS line: call once the milter socket accepts connections and the first message
// can be served.
void notify_ready(std::string_view status);
// STOPPING=1: the daemon has begun its shutdown.
void notify_stopping();
// Whether this build can talk to the service manager at all (false: MDCRYPT_SYSTEMD=OFF).
bool notify_supported();

}  // namespace mdcrypt::milter
