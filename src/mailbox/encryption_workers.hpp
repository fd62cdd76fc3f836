// Processes that encrypt stored messages for mdcrypt-mailbox's threads (the GPGME engine).
//
// With GPGME every message starts gpg, and GPGME forks for it. Forked from the tool, a multi-threaded
// process that writes megabytes of message data per second, each fork made the pages written after it
// copy-on-write faults with TLB shoot-downs on the other CPU, and copied the tool's page tables twice
// (GPGME forks twice): perf put 40 % of a run's CPU there, as much as gpg itself. A worker is a small
// single-threaded copy of the tool, forked before any thread exists, so gpg is forked from it.
// Its messages pass in unlinked files, not in memory, so memory stays bounded for large messages.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <vector>

#include "core/bytes.hpp"
#include "core/file_descriptor.hpp"
#include "mailbox/stored_encryption.hpp"

namespace mdcrypt {

class EncryptionWorkers {
public:
    // What a worker does with one message (in the worker process). Exceptions become Failed.
    using Job = std::function<StoredVerdict(const StoredMessageJob&, ByteSource& in, ByteSink& out)>;

    // Forks `count` workers that run `job`; messages and results pass through unlinked files in
    // `directory` (private: they hold plaintext). The process must have one thread (std::logic_error
    // otherwise: a fork copies only the calling thread, and any lock another thread held stays held).
    // Throws std::runtime_error when a socket or a fork fails.
    EncryptionWorkers(unsigned count, std::filesystem::path directory, Job job);
    // Closes the sockets, which ends each worker after its message at hand, and reaps them.
    ~EncryptionWorkers();
    EncryptionWorkers(const EncryptionWorkers&) = delete;
    EncryptionWorkers& operator=(const EncryptionWorkers&) = delete;

    // Runs `job` on an idle worker (waits for one); thread-safe. `in` is copied to the worker, and the
    // worker's output is copied to `out` unless the verdict is Failed. Never throws for a worker's
    // trouble: a worker that died makes the verdict Failed, naming how it ended, and is not used again.
    StoredVerdict run(const StoredMessageJob& job, ByteSource& in, ByteSink& out);

    // Workers still running.
    unsigned alive() const;

private:
    struct Worker {
        pid_t pid = -1;
        FileDescriptor socket;
        bool busy = false;
        bool alive = true;
    };
    Worker* acquire();
    void release(Worker& worker);
    StoredVerdict exchange(Worker& worker, const StoredMessageJob& job, ByteSource& in, ByteSink& out);
    std::string reap(Worker& worker);  // how it ended, waiting for it
    void stop_all() noexcept;

    std::filesystem::path directory_;
    Job job_;
    std::vector<Worker> workers_;
    mutable std::mutex mutex_;  // guards busy/alive
    std::condition_variable idle_;
};

// The number of threads of this process (from /proc/self/task); 0 when it cannot be read.
unsigned count_threads();

}  // namespace mdcrypt
