// Hands the filtered message to the next delivery program (`mdcrypt-filter --exec dovecot-lda ...`):
// fork, the message file on the child's stdin, execv (no shell, no PATH search), wait.
#pragma once

#include <string>
#include <vector>

namespace mdcrypt {

struct ChildOutcome {
    int exit_code = 75;  // what mdcrypt-filter returns: the child's exit status, 75 if it did not exit
    std::string error;   // why, when the child did not run or did not exit on its own; empty otherwise
};

// Runs argv[0] (an absolute path) with argv, stdin reading `input_fd` from its start. A child killed by
// a signal, or one that could not be started, gives 75 so the MTA defers: the message was not delivered.
ChildOutcome run_child_with_input(const std::vector<std::string>& argv, int input_fd);

// For a termination signal handler: passes SIGTERM on to the running child, if any (async-signal-safe).
void terminate_running_child();

}  // namespace mdcrypt
