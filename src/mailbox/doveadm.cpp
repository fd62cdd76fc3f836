#include "mailbox/doveadm.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "core/spawn.hpp"
#include "core/spool.hpp"

namespace mdcrypt {

namespace {

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
    stderr_file_ = create_unlinked_file(private_dir);
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
    wait_for_child(pid_);
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

    CapturedOutput captured = capture_output(out.read, err.read, 16u << 20, 16u << 10);
    DoveadmResult result{-1, std::move(captured.out), std::move(captured.err)};
    const int status = wait_for_child(pid);
    if (status >= 0 && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
    return result;
}

}  // namespace mdcrypt
