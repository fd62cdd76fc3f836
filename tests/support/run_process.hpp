// Runs a program for a test: argument vector, no shell, stdin fed from a string, stdout and stderr
// captured. posix_spawnp, so the program is looked up in PATH.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mdcrypt::test {

struct ProcessResult {
    int exit_code = -1;  // -1 when killed by a signal
    int signal = 0;      // the signal that killed it, or 0
    std::string out;
    std::string err;
    bool ok() const { return exit_code == 0; }
    std::string describe() const;  // "exit 2: <stderr>" for failure messages
};

// `extra_env` entries ("NAME=value") are added to (or override) the inherited environment.
// Throws std::runtime_error when the program cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv, std::string_view input = {},
                          const std::vector<std::string>& extra_env = {});

}  // namespace mdcrypt::test
