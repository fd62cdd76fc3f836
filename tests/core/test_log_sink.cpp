#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "core/log_sink.hpp"

using namespace mdcrypt;

namespace {

// What the logged lines wrote to stderr, captured through a temporary file.
template <typename F>
std::string stderr_of(F&& body) {
    char path[] = "/tmp/mdcrypt-log-sink.XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::unlink(path);
    std::fflush(stderr);
    const int saved = ::dup(STDERR_FILENO);
    ::dup2(fd, STDERR_FILENO);
    body();
    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    std::string out(4096, '\0');
    const ssize_t n = ::pread(fd, out.data(), out.size(), 0);
    ::close(fd);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
}

}  // namespace

TEST_CASE("below the stderr threshold a line goes to syslog only, at or above it to stderr too") {
    const std::string out = stderr_of([] {
        init_logging({.ident = "mdcrypt-test", .to_syslog = false, .to_stderr = true,
                      .stderr_threshold = Severity::Warning, .verbose = false});
        log_info("verdict=encrypt exit=0");
        log_warning("careful");
        log_error("verdict=defer exit=75");
    });
    CHECK(out.find("verdict=encrypt") == std::string::npos);
    CHECK(out.find("]: warning: careful\n") != std::string::npos);
    CHECK(out.find("mdcrypt-test[") == 0);
    CHECK(out.find("]: error: verdict=defer exit=75\n") != std::string::npos);
}

TEST_CASE("the default threshold writes every line, and a line never spans two") {
    const std::string out = stderr_of([] {
        init_logging({.ident = "mdcrypt-test", .to_syslog = false, .to_stderr = true});
        log_info("a\nb\rc");
        log_debug("hidden unless verbose");
    });
    CHECK(out.find("]: info: a b c\n") != std::string::npos);
    CHECK(out.find("hidden") == std::string::npos);
}
