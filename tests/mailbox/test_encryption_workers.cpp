#include "mailbox/encryption_workers.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <filesystem>
#include <future>
#include <latch>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace mdcrypt;
namespace fs = std::filesystem;

namespace {

// The stand-in job: "pid <worker pid>\n" and the input upper-cased; an input starting with a command
// word makes it fail, throw or die, as the real job's key lookups, engine errors and crashes would.
StoredVerdict upper_case_job(const StoredMessageJob& job, ByteSource& in, ByteSink& out) {
    const std::string input = read_all(in);
    if (input.starts_with("die")) ::raise(SIGKILL);
    if (input.starts_with("throw")) throw std::runtime_error("spool full for " + job.address);
    if (input.starts_with("child")) {  // what a SIGTERM does to a program the worker starts (gpg)
        const pid_t child = ::fork();
        if (child == 0) {
            ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::usleep(200'000);  // past exec
        ::kill(child, SIGTERM);
        int status = 0;
        ::waitpid(child, &status, 0);
        out.write(WIFSIGNALED(status) ? "child ended by signal " + std::to_string(WTERMSIG(status)) : std::string("child exited"));
        return {StoredOutcome::Encrypted, {}};
    }
    std::string upper = input;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    out.write("pid " + std::to_string(::getpid()) + " token " + job.token + "\n" + upper);
    if (input.starts_with("fail")) return {StoredOutcome::Failed, "no usable key for " + job.address};
    return {StoredOutcome::Encrypted, {}};
}

struct Result {
    StoredVerdict verdict;
    std::string output;
};

Result run(EncryptionWorkers& workers, const std::string& input, const std::string& token = "t1") {
    StringSource in(input);
    Result r;
    StringSink out(r.output);
    r.verdict = workers.run({"alice@example.test", token, 0}, in, out);
    return r;
}

pid_t worker_pid(const std::string& output) { return static_cast<pid_t>(std::stol(output.substr(4, output.find(' ', 4) - 4))); }

std::string body_of(const std::string& output) { return output.substr(output.find('\n') + 1); }

}  // namespace

TEST_CASE("A worker process runs the job and its verdict and output come back", "[encryption_workers]") {
    EncryptionWorkers workers(2, fs::temp_directory_path(), upper_case_job);
    REQUIRE(workers.alive() == 2);
    const Result r = run(workers, "Subject: hello\r\n\r\nbody\r\n", "tok-42");
    CHECK(r.verdict.outcome == StoredOutcome::Encrypted);
    CHECK(r.verdict.reason.empty());
    CHECK(worker_pid(r.output) != ::getpid());
    CHECK(r.output.find(" token tok-42\n") != std::string::npos);
    CHECK(body_of(r.output) == "SUBJECT: HELLO\r\n\r\nBODY\r\n");
}

TEST_CASE("A Failed verdict brings its reason back and none of the worker's output", "[encryption_workers]") {
    EncryptionWorkers workers(1, fs::temp_directory_path(), upper_case_job);
    const Result failed = run(workers, "fail please");
    CHECK(failed.verdict.outcome == StoredOutcome::Failed);
    CHECK(failed.verdict.reason == "no usable key for alice@example.test");
    CHECK(failed.output.empty());
    const Result thrown = run(workers, "throw now");
    CHECK(thrown.verdict.outcome == StoredOutcome::Failed);
    CHECK(thrown.verdict.reason == "spool full for alice@example.test");
    CHECK(thrown.output.empty());
    // The worker carries on after both.
    CHECK(run(workers, "next").verdict.outcome == StoredOutcome::Encrypted);
}

TEST_CASE("A worker that dies fails only its message and is not used again", "[encryption_workers]") {
    EncryptionWorkers workers(2, fs::temp_directory_path(), upper_case_job);
    const Result died = run(workers, "die");
    CHECK(died.verdict.outcome == StoredOutcome::Failed);
    CHECK(died.verdict.reason.find("was killed by signal 9 while encrypting the message") != std::string::npos);
    CHECK(died.output.empty());
    CHECK(workers.alive() == 1);
    std::set<pid_t> pids;
    for (int i = 0; i < 4; ++i) {
        const Result r = run(workers, "still there");
        CHECK(r.verdict.outcome == StoredOutcome::Encrypted);
        pids.insert(worker_pid(r.output));
    }
    CHECK(pids.size() == 1);
    CHECK(run(workers, "die").verdict.outcome == StoredOutcome::Failed);
    CHECK(workers.alive() == 0);
    const Result none = run(workers, "anyone?");
    CHECK(none.verdict.outcome == StoredOutcome::Failed);
    CHECK(none.verdict.reason == "no encryption worker process is left");
}

TEST_CASE("Threads share the workers without mixing up their messages", "[encryption_workers]") {
    EncryptionWorkers workers(3, fs::temp_directory_path(), upper_case_job);
    std::vector<std::future<int>> threads;
    for (int t = 0; t < 6; ++t) {
        threads.push_back(std::async(std::launch::async, [&workers, t] {
            int wrong = 0;
            for (int i = 0; i < 15; ++i) {
                // Sizes from a few bytes to 3 MB: past a pipe's and a socket's buffer.
                const std::size_t size = (i % 5 == 4) ? 3'000'000 : static_cast<std::size_t>(10 + 997 * i);
                std::string input(size, static_cast<char>('a' + (t + i) % 26));
                input += " thread " + std::to_string(t) + " message " + std::to_string(i);
                std::string expected = input;
                std::transform(expected.begin(), expected.end(), expected.begin(),
                               [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
                const std::string token = std::to_string(t) + "." + std::to_string(i);
                const Result r = run(workers, input, token);
                if (r.verdict.outcome != StoredOutcome::Encrypted || body_of(r.output) != expected ||
                    r.output.find(" token " + token + "\n") == std::string::npos)
                    ++wrong;
            }
            return wrong;
        }));
    }
    int wrong = 0;
    for (auto& t : threads) wrong += t.get();
    CHECK(wrong == 0);
    CHECK(workers.alive() == 3);
}

TEST_CASE("Workers end and are reaped when their owner goes", "[encryption_workers]") {
    std::set<pid_t> pids;
    {
        EncryptionWorkers workers(2, fs::temp_directory_path(), upper_case_job);
        // Two messages at once reach both workers.
        auto a = std::async(std::launch::async, [&] { return run(workers, std::string(2'000'000, 'x')); });
        auto b = std::async(std::launch::async, [&] { return run(workers, std::string(2'000'000, 'y')); });
        pids.insert(worker_pid(a.get().output));
        pids.insert(worker_pid(b.get().output));
    }
    REQUIRE_FALSE(pids.empty());
    for (const pid_t pid : pids) {
        errno = 0;
        CHECK(::kill(pid, 0) == -1);
        CHECK(errno == ESRCH);  // exited and reaped, not a zombie
    }
}

TEST_CASE("Workers are not forked while another thread runs", "[encryption_workers]") {
    std::latch release(1);
    std::thread other([&] { release.wait(); });
    CHECK_THROWS_AS(EncryptionWorkers(1, fs::temp_directory_path(), upper_case_job), std::logic_error);
    release.count_down();
    other.join();
    CHECK(count_threads() == 1);
}

TEST_CASE("A stop signal leaves a worker running but still stops what the worker starts", "[encryption_workers]") {
    EncryptionWorkers workers(1, fs::temp_directory_path(), upper_case_job);
    const pid_t pid = worker_pid(run(workers, "first").output);
    for (int signo : {SIGTERM, SIGINT, SIGHUP}) REQUIRE(::kill(pid, signo) == 0);
    const Result after = run(workers, "second");
    CHECK(after.verdict.outcome == StoredOutcome::Encrypted);
    CHECK(worker_pid(after.output) == pid);
    CHECK(workers.alive() == 1);
    // gpg keeps an inherited SIG_IGN for SIGTERM: the worker's own handling must not reach it.
    const Result child = run(workers, "child");
    CHECK(child.output == "child ended by signal 15");
}
