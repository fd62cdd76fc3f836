#include "mailbox/doveadm.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace mdcrypt {

namespace {

struct Pipe {
    FileDescriptor read;
    FileDescriptor write;
};

Pipe make_pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    return {FileDescriptor(fds[0]), FileDescriptor(fds[1])};
}

class SpawnActions {
public:
    SpawnActions() { ::posix_spawn_file_actions_init(&actions_); }
    ~SpawnActions() { ::posix_spawn_file_actions_destroy(&actions_); }
    SpawnActions(const SpawnActions&) = delete;
    SpawnActions& operator=(const SpawnActions&) = delete;
    void dup_to(int fd, int target) { ::posix_spawn_file_actions_adddup2(&actions_, fd, target); }
    posix_spawn_file_actions_t* get() { return &actions_; }

private:
    posix_spawn_file_actions_t actions_;
};

pid_t spawn(const std::vector<std::string>& argv, SpawnActions& actions) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, args[0], actions.get(), nullptr, args.data(), environ);
    if (rc != 0) throw std::runtime_error("cannot run " + argv[0] + ": " + std::strerror(rc));
    return pid;
}

int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

FileDescriptor unlinked_file(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create a file in " + dir.string() + ": " + std::strerror(errno));
    return FileDescriptor(fd);
}

std::string read_tail(int fd, std::size_t max) {
    const off_t end = ::lseek(fd, 0, SEEK_END);
    if (end <= 0) return {};
    const off_t start = end > static_cast<off_t>(max) ? end - static_cast<off_t>(max) : 0;
    std::string out(static_cast<std::size_t>(end - start), '\0');
    const ssize_t n = ::pread(fd, out.data(), out.size(), start);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
}

}  // namespace

std::vector<std::string> doveadm_argv(const MailboxSettings& settings, const std::vector<std::string>& args) {
    std::vector<std::string> argv{settings.doveadm.string()};
    if (!settings.dovecot_config.empty()) {
        argv.push_back("-c");
        argv.push_back(settings.dovecot_config.string());
    }
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

ImapProcess::ImapProcess(const MailboxSettings& settings, const std::string& user, const std::filesystem::path& private_dir) {
    Pipe in = make_pipe();
    Pipe out = make_pipe();
    stderr_file_ = unlinked_file(private_dir);
    SpawnActions actions;
    actions.dup_to(in.read.get(), STDIN_FILENO);
    actions.dup_to(out.write.get(), STDOUT_FILENO);
    actions.dup_to(stderr_file_.get(), STDERR_FILENO);
    pid_ = spawn(doveadm_argv(settings, {"exec", "imap", "-u", user}), actions);
    to_imap_ = std::move(in.write);
    from_imap_ = std::move(out.read);
}

ImapProcess::~ImapProcess() {
    to_imap_ = FileDescriptor();
    from_imap_ = FileDescriptor();
    if (pid_ <= 0) return;
    // imap exits when its stdin closes; one that does not within 10 s is killed.
    for (int i = 0; i < 200; ++i) {
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_ || (r < 0 && errno != EINTR)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    wait_for(pid_);
}

std::string ImapProcess::stderr_tail() const { return read_tail(stderr_file_.get(), 2048); }

DoveadmResult run_doveadm(const MailboxSettings& settings, const std::vector<std::string>& args) {
    Pipe out = make_pipe();
    Pipe err = make_pipe();
    const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const FileDescriptor null_in(devnull);
    SpawnActions actions;
    actions.dup_to(null_in.get(), STDIN_FILENO);
    actions.dup_to(out.write.get(), STDOUT_FILENO);
    actions.dup_to(err.write.get(), STDERR_FILENO);
    const pid_t pid = spawn(doveadm_argv(settings, args), actions);
    out.write = FileDescriptor();
    err.write = FileDescriptor();

    DoveadmResult result;
    pollfd fds[2] = {{out.read.get(), POLLIN, 0}, {err.read.get(), POLLIN, 0}};
    std::string* targets[2] = {&result.output, &result.errors};
    const std::size_t limits[2] = {16u << 20, 16u << 10};
    int open_count = 2;
    char chunk[65536];
    while (open_count > 0) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) continue;
            const ssize_t n = ::read(fds[i].fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                fds[i].fd = -1;
                --open_count;
                continue;
            }
            const std::size_t room = limits[i] - std::min(limits[i], targets[i]->size());
            targets[i]->append(chunk, std::min(room, static_cast<std::size_t>(n)));
        }
    }
    result.exit_code = wait_for(pid);
    return result;
}

}  // namespace mdcrypt
