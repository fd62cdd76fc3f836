#include "mailbox/encryption_workers.hpp"

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>

#include "core/spool.hpp"
#include "filter/fd_io.hpp"

namespace mdcrypt {

namespace {

// One request: the head, the address and the token; SCM_RIGHTS carries the input and output files.
struct RequestHead {
    std::int64_t now;
    std::uint32_t address_size;
    std::uint32_t token_size;
};

struct ReplyHead {
    std::uint8_t outcome;
    std::uint32_t reason_size;
};

constexpr std::size_t kMaxField = 4096;         // an address or a token
constexpr std::size_t kMaxReason = 8192;        // longer reasons are cut
constexpr std::size_t kMaxMessage = 2 * kMaxField + kMaxReason + 64;

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// Sends one datagram with up to two descriptors. False when the peer is gone.
bool send_packet(int socket, std::string_view bytes, std::span<const int> fds) {
    iovec io{const_cast<char*>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &io;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) std::array<char, CMSG_SPACE(2 * sizeof(int))> control{};
    if (!fds.empty()) {
        msg.msg_control = control.data();
        msg.msg_controllen = CMSG_SPACE(fds.size() * sizeof(int));
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
        std::memcpy(CMSG_DATA(c), fds.data(), fds.size() * sizeof(int));
    }
    for (;;) {
        const ssize_t n = ::sendmsg(socket, &msg, MSG_NOSIGNAL);
        if (n == static_cast<ssize_t>(bytes.size())) return true;
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
}

// Receives one datagram and the descriptors it carries (close-on-exec: gpg must not inherit them).
// nullopt at end of file or on an error.
std::optional<std::string> receive_packet(int socket, std::vector<FileDescriptor>& fds) {
    std::string bytes(kMaxMessage, '\0');
    iovec io{bytes.data(), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &io;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) std::array<char, CMSG_SPACE(2 * sizeof(int))> control{};
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    ssize_t n;
    do n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); n >= 0 && c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            fds.emplace_back(fd);
        }
    }
    if (n <= 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) return std::nullopt;
    bytes.resize(static_cast<std::size_t>(n));
    return bytes;
}

std::string encode_reply(const StoredVerdict& verdict) {
    const std::string_view reason = std::string_view(verdict.reason).substr(0, kMaxReason);
    ReplyHead head{};  // value-initialised: the padding bytes sent are zeros, not stack contents
    head.outcome = static_cast<std::uint8_t>(verdict.outcome);
    head.reason_size = static_cast<std::uint32_t>(reason.size());
    std::string bytes(reinterpret_cast<const char*>(&head), sizeof head);
    bytes.append(reason);
    return bytes;
}

std::optional<StoredVerdict> decode_reply(std::string_view bytes) {
    ReplyHead head;
    if (bytes.size() < sizeof head) return std::nullopt;
    std::memcpy(&head, bytes.data(), sizeof head);
    if (head.outcome > static_cast<std::uint8_t>(StoredOutcome::Failed) || bytes.size() != sizeof head + head.reason_size)
        return std::nullopt;
    return StoredVerdict{static_cast<StoredOutcome>(head.outcome), std::string(bytes.substr(sizeof head))};
}

// The worker's loop: one message at a time until the tool closes the socket.
[[noreturn]] void serve(int socket, const EncryptionWorkers::Job& job) {
    for (;;) {
        std::vector<FileDescriptor> fds;
        const std::optional<std::string> request = receive_packet(socket, fds);
        if (!request) ::_exit(0);
        RequestHead head;
        StoredVerdict verdict{StoredOutcome::Failed, "the encryption worker received a malformed request"};
        if (fds.size() == 2 && request->size() >= sizeof head) {
            std::memcpy(&head, request->data(), sizeof head);
            if (request->size() == sizeof head + head.address_size + head.token_size) {
                StoredMessageJob message{request->substr(sizeof head, head.address_size),
                                         request->substr(sizeof head + head.address_size), head.now};
                try {
                    FdSource in(fds[0].get());
                    FdSink out(fds[1].get());
                    verdict = job(message, in, out);
                    out.flush();
                } catch (const std::exception& e) {
                    verdict = {StoredOutcome::Failed, e.what()};
                }
            }
        }
        fds.clear();
        if (!send_packet(socket, encode_reply(verdict), {})) ::_exit(0);
    }
}

}  // namespace

unsigned count_threads() {
    std::error_code ec;
    unsigned n = 0;
    for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end; it.increment(ec)) ++n;
    return ec ? 0 : n;
}

EncryptionWorkers::EncryptionWorkers(unsigned count, std::filesystem::path directory, Job job)
    : directory_(std::move(directory)), job_(std::move(job)) {
    if (count_threads() != 1) throw std::logic_error("encryption workers must be started while the process has one thread");
    workers_.reserve(count);
    try {
        for (unsigned i = 0; i < count; ++i) {
            int pair[2];
            if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
                throw std::runtime_error(errno_text("socketpair for an encryption worker"));
            FileDescriptor ours(pair[0]);
            FileDescriptor theirs(pair[1]);
            const pid_t pid = ::fork();
            if (pid < 0) throw std::runtime_error(errno_text("fork of an encryption worker"));
            if (pid == 0) {
                // Other workers must see end of file when the tool closes their sockets.
                ::close(ours.get());
                for (const Worker& w : workers_) ::close(w.socket.get());
                // A stop is the tool's to handle (after the batch at hand); a worker ends with its
                // socket. Not SIG_IGN: gpg would inherit it across exec and keep ignoring SIGTERM.
                struct sigaction ignore{};
                ignore.sa_handler = [](int) {};
                ignore.sa_flags = SA_RESTART;
                sigemptyset(&ignore.sa_mask);
                for (int signo : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(signo, &ignore, nullptr);
                serve(theirs.get(), job_);
            }
            workers_.push_back(Worker{pid, std::move(ours)});
        }
    } catch (...) {
        stop_all();
        throw;
    }
}

EncryptionWorkers::~EncryptionWorkers() { stop_all(); }

void EncryptionWorkers::stop_all() noexcept {
    for (Worker& w : workers_) w.socket = FileDescriptor();
    for (Worker& w : workers_) {
        int status;
        while (w.alive && ::waitpid(w.pid, &status, 0) < 0 && errno == EINTR) {
        }
        w.alive = false;
    }
}

unsigned EncryptionWorkers::alive() const {
    std::lock_guard lock(mutex_);
    return static_cast<unsigned>(std::count_if(workers_.begin(), workers_.end(), [](const Worker& w) { return w.alive; }));
}

EncryptionWorkers::Worker* EncryptionWorkers::acquire() {
    std::unique_lock lock(mutex_);
    for (;;) {
        bool any_alive = false;
        for (Worker& w : workers_) {
            any_alive = any_alive || w.alive;
            if (w.alive && !w.busy) {
                w.busy = true;
                return &w;
            }
        }
        if (!any_alive) return nullptr;
        idle_.wait(lock);
    }
}

void EncryptionWorkers::release(Worker& worker) {
    {
        std::lock_guard lock(mutex_);
        worker.busy = false;
    }
    idle_.notify_all();
}

std::string EncryptionWorkers::reap(Worker& worker) {
    worker.socket = FileDescriptor();  // a worker that is still there ends at end of file
    int status = 0;
    pid_t r;
    do r = ::waitpid(worker.pid, &status, 0);
    while (r < 0 && errno == EINTR);
    {
        std::lock_guard lock(mutex_);
        worker.alive = false;
    }
    const std::string who = "the encryption worker process " + std::to_string(worker.pid);
    if (r < 0) return who + " is gone";
    if (WIFSIGNALED(status)) return who + " was killed by signal " + std::to_string(WTERMSIG(status));
    return who + " exited with status " + std::to_string(WEXITSTATUS(status));
}

StoredVerdict EncryptionWorkers::run(const StoredMessageJob& job, ByteSource& in, ByteSink& out) {
    Worker* worker = acquire();
    if (!worker) return {StoredOutcome::Failed, "no encryption worker process is left"};
    StoredVerdict verdict;
    try {
        verdict = exchange(*worker, job, in, out);
    } catch (const std::exception& e) {
        verdict = {StoredOutcome::Failed, e.what()};
    }
    release(*worker);
    return verdict;
}

StoredVerdict EncryptionWorkers::exchange(Worker& worker, const StoredMessageJob& job, ByteSource& in, ByteSink& out) {
    if (job.address.size() > kMaxField || job.token.size() > kMaxField)
        return {StoredOutcome::Failed, "address or journal token too long for an encryption worker"};
    FileDescriptor plain = create_unlinked_file(directory_);
    {
        FdSink to_file(plain.get());
        copy_all(in, to_file);
        to_file.flush();
    }
    if (::lseek(plain.get(), 0, SEEK_SET) != 0) throw std::runtime_error(errno_text("rewinding a message for the encryption worker"));
    FileDescriptor encrypted = create_unlinked_file(directory_);

    const RequestHead head{job.now, static_cast<std::uint32_t>(job.address.size()),
                           static_cast<std::uint32_t>(job.token.size())};
    std::string request(reinterpret_cast<const char*>(&head), sizeof head);
    request += job.address;
    request += job.token;
    const std::array<int, 2> fds{plain.get(), encrypted.get()};
    std::vector<FileDescriptor> none;
    std::optional<std::string> reply;
    if (send_packet(worker.socket.get(), request, fds)) reply = receive_packet(worker.socket.get(), none);
    if (!reply) return {StoredOutcome::Failed, reap(worker) + " while encrypting the message"};
    std::optional<StoredVerdict> verdict = decode_reply(*reply);
    if (!verdict) return {StoredOutcome::Failed, "the encryption worker process " + std::to_string(worker.pid) + " sent a malformed reply"};
    if (verdict->outcome != StoredOutcome::Failed) {
        if (::lseek(encrypted.get(), 0, SEEK_SET) != 0) throw std::runtime_error(errno_text("rewinding an encrypted message"));
        FdSource from_file(encrypted.get());
        copy_all(from_file, out);
    }
    return *verdict;
}

}  // namespace mdcrypt
