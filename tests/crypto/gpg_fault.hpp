// Sets the fault of tests/support/gpg-fault (a gpg that dies or fails while listing keys or encrypting) for
// as long as an instance lives.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <thread>
#include <filesystem>
#include <string>

#include "gnupg_fixtures.hpp"

namespace mdcrypt::test {

#ifndef MDCRYPT_GPG_FAULT_WRAPPER
#error "MDCRYPT_GPG_FAULT_WRAPPER must name tests/support/gpg-fault"
#endif

class GpgFault {
public:
    explicit GpgFault(const std::string& fault) : file_(dir_.path() / "fault") {
        set(fault);
        ::setenv("MDCRYPT_GPG_FAULT", file_.c_str(), 1);
    }
    ~GpgFault() { ::unsetenv("MDCRYPT_GPG_FAULT"); }
    GpgFault(const GpgFault&) = delete;
    GpgFault& operator=(const GpgFault&) = delete;
    const std::filesystem::path& file() const { return file_; }
    // The pid a hanging fault ("hang", "encrypt-hang") wrote, once it has started.
    std::optional<pid_t> hung_pid() const {
        std::ifstream in(file_.string() + ".pid");
        long pid = 0;
        if (in >> pid && pid > 0) return static_cast<pid_t>(pid);
        return std::nullopt;
    }
    void set(const std::string& fault) const {
        std::filesystem::remove(file_);
        write_private_file(file_, fault + "\n");
    }

private:
    TempDir dir_{"mdcrypt-fault-"};
    std::filesystem::path file_;
};

inline const char* fault_gpg() { return MDCRYPT_GPG_FAULT_WRAPPER; }

// Whether `pid` has ended (gone, or a zombie waiting for its new parent to reap it). Waits up to 10 s
// for it: a SIGKILL takes effect asynchronously.
inline bool process_ends(pid_t pid) {
    for (int i = 0; i < 200; ++i) {
        std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
        std::string line;
        if (!std::getline(stat, line)) return true;
        const auto paren = line.rfind(')');
        if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
}

}  // namespace mdcrypt::test
