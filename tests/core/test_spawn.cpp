// posix_spawn as the tools use it: a child gets the descriptors the file actions give it and no
// other, starts in the directory given, and a missing program is an error naming it.
#include "core/spawn.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>

#include "temp_dir.hpp"

using namespace mdcrypt;

namespace {

struct Ran {
    int exit_code = -1;
    std::string out;
};

// Runs argv with its stdout on a pipe (and `extra` applied first); returns what it printed.
Ran run(const std::vector<std::string>& argv, const std::function<void(SpawnActions&)>& extra = {}) {
    Pipe out = make_pipe();
    SpawnActions actions;
    actions.dup_to(out.write.get(), STDOUT_FILENO);
    if (extra) extra(actions);
    const pid_t pid = spawn(argv, actions);
    out.write = FileDescriptor();
    Ran ran;
    char chunk[4096];
    for (ssize_t n; (n = ::read(out.read.get(), chunk, sizeof chunk)) > 0;) ran.out.append(chunk, static_cast<std::size_t>(n));
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    ran.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return ran;
}

}  // namespace

TEST_CASE("a descriptor given to the child as itself stays open there, the others are closed", "[spawn]") {
    testing::TempDir dir;
    const auto given = dir.write("given", "the given file\n");
    const auto other = dir.write("other", "not for the child\n");
    const FileDescriptor given_fd(::open(given.c_str(), O_RDONLY | O_CLOEXEC));
    const FileDescriptor other_fd(::open(other.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(given_fd);
    REQUIRE(other_fd);
    const Ran ran = run({"/bin/cat", "/dev/fd/" + std::to_string(given_fd.get())},
                        [&](SpawnActions& a) { a.dup_to(given_fd.get(), given_fd.get()); });
    CHECK(ran.exit_code == 0);
    CHECK(ran.out == "the given file\n");
    const Ran refused = run({"/bin/cat", "/dev/fd/" + std::to_string(other_fd.get())});
    CHECK(refused.exit_code != 0);
    CHECK(refused.out.empty());
    // Still open here: only the child's copy was affected.
    CHECK(::fcntl(given_fd.get(), F_GETFD) == FD_CLOEXEC);
}

TEST_CASE("the child starts in the directory given", "[spawn]") {
    testing::TempDir dir;
    const Ran ran = run({"/bin/pwd"}, [&](SpawnActions& a) { a.chdir(dir.path()); });
    CHECK(ran.out == dir.path().string() + "\n");
}

TEST_CASE("a child's output is kept within the limits: the head of stdout, the tail of stderr", "[spawn]") {
    testing::TempDir dir;
    const auto big = dir.write("big", std::string(100000, 'o') + "END");
    Pipe out = make_pipe();
    Pipe err = make_pipe();
    SpawnActions actions;
    actions.dup_to(out.write.get(), STDOUT_FILENO);
    actions.dup_to(out.write.get(), STDERR_FILENO);
    const pid_t pid = spawn({"/bin/cat", big.string()}, actions);
    out.write = FileDescriptor();
    err.write = FileDescriptor();
    const CapturedOutput captured = capture_output(out.read, err.read, 10, 10);
    CHECK(captured.out == std::string(10, 'o'));
    CHECK(captured.closed);
    CHECK_FALSE(captured.timed_out);
    CHECK(describe_wait_status(wait_for_child(pid)) == "exit 0");

    Pipe out2 = make_pipe();
    Pipe err2 = make_pipe();
    SpawnActions to_stderr;
    to_stderr.dup_to(err2.write.get(), STDERR_FILENO);
    to_stderr.dup_to(out2.write.get(), STDOUT_FILENO);
    const pid_t pid2 = spawn({"/bin/cat", big.string(), "/nonexistent"}, to_stderr);
    out2.write = FileDescriptor();
    err2.write = FileDescriptor();
    const CapturedOutput second = capture_output(out2.read, err2.read, 1 << 20, 12);
    CHECK(second.out.ends_with("END"));
    CHECK(second.err == "r directory\n");  // the end of "...: No such file or directory"
    CHECK(describe_wait_status(wait_for_child(pid2)) == "exit 1");
}

TEST_CASE("a child that outlives the deadline is reported, not waited for", "[spawn]") {
    Pipe out = make_pipe();
    Pipe err = make_pipe();
    SpawnActions actions;
    actions.dup_to(out.write.get(), STDOUT_FILENO);
    actions.dup_to(err.write.get(), STDERR_FILENO);
    const pid_t pid = spawn({"/bin/sleep", "30"}, actions);
    out.write = FileDescriptor();
    err.write = FileDescriptor();
    const CapturedOutput captured =
        capture_output(out.read, err.read, 100, 100, std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
    CHECK(captured.timed_out);
    CHECK_FALSE(captured.closed);
    ::kill(pid, SIGKILL);
    CHECK(describe_wait_status(wait_for_child(pid)) == "killed by signal 9");
}

TEST_CASE("a program that does not exist is an error naming it", "[spawn]") {
    SpawnActions actions;
    CHECK_THROWS_WITH(spawn({"/nonexistent/gpg", "--version"}, actions), Catch::Contains("/nonexistent/gpg"));
}
