#include "milter/health.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>

namespace mdcrypt::milter {

namespace {

void add(HealthReport& report, const std::string& check, bool ok, const std::string& detail) {
    report.ok = report.ok && ok;
    report.text += check + ": " + (ok ? "ok" : "FAILED") + (detail.empty() ? "" : " (" + detail + ")") + "\n";
}

}  // namespace

HealthReport check_health(const Snapshot& snapshot) {
    HealthReport report;
    const CryptoServices* crypto = snapshot.crypto.get();
    if (!crypto || !crypto->usable_key_count) {
        add(report, "keyring", false, "no key index");
    } else {
        try {
            add(report, "keyring", true, std::to_string(crypto->usable_key_count()) + " usable keys");
        } catch (const std::exception& e) {
            add(report, "keyring", false, e.what());
        }
    }
    if (!crypto || !crypto->check_gpg) {
        add(report, "gpg", false, "no encryption engine");
    } else {
        try {
            crypto->check_gpg();
            add(report, "gpg", true, "");
        } catch (const std::exception& e) {
            add(report, "gpg", false, e.what());
        }
    }
    const auto& spool = snapshot.config->milter.spool_directory;
    const int fd = ::open(spool.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ::close(fd);
        add(report, "spool", true, spool.string());
    } else {
        add(report, "spool", false, "cannot create a file in " + spool.string() + ": " + std::strerror(errno));
    }
    return report;
}

}  // namespace mdcrypt::milter
