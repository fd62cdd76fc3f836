#include <catch2/catch.hpp>

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "core/spool.hpp"
#include "fakes.hpp"
#include "milter/socket.hpp"

using namespace mdcrypt;
using namespace mdcrypt::milter;

namespace {

// A unix socket bound at `path`; listening when `listen_on` is set.
FileDescriptor bound_socket(const std::filesystem::path& path, bool listen_on) {
    FileDescriptor fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    REQUIRE(fd);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
    if (listen_on) REQUIRE(::listen(fd.get(), 1) == 0);
    return fd;
}

}  // namespace

TEST_CASE("socket specs in libmilter's syntax") {
    const auto unix_spec = parse_socket_spec("unix:/run/m/m.sock");
    CHECK(unix_spec.kind == SocketSpec::Kind::Unix);
    CHECK(unix_spec.path == "/run/m/m.sock");
    CHECK(unix_spec.spec == "unix:/run/m/m.sock");
    CHECK(parse_socket_spec("local:/x.sock").path == "/x.sock");
    CHECK(parse_socket_spec("inet:10025@127.0.0.1").kind == SocketSpec::Kind::Inet);
    CHECK(parse_socket_spec("inet6:10025@[::1]").kind == SocketSpec::Kind::Inet6);
    CHECK_THROWS_AS(parse_socket_spec("unix:"), SocketError);
    CHECK_THROWS_AS(parse_socket_spec("inet:@127.0.0.1"), SocketError);
    CHECK_THROWS_AS(parse_socket_spec("tcp:25"), SocketError);
    CHECK_THROWS_AS(parse_socket_spec("/run/m.sock"), SocketError);
    CHECK_THROWS_AS(parse_socket_spec("unix:/" + std::string(200, 'x')), SocketError);
}

TEST_CASE("no socket yet: nothing to do") {
    testing::TempDir dir;
    CHECK_NOTHROW(prepare_unix_socket(dir.path() / "m.sock"));
}

TEST_CASE("a stale socket nobody listens on is removed") {
    testing::TempDir dir;
    const auto path = dir.path() / "m.sock";
    { const auto fd = bound_socket(path, false); }  // closed, file left behind as after a crash
    REQUIRE(std::filesystem::exists(path));
    prepare_unix_socket(path);
    CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("a socket a live process listens on is refused and left alone") {
    testing::TempDir dir;
    const auto path = dir.path() / "m.sock";
    const auto listener = bound_socket(path, true);
    CHECK_THROWS_WITH(prepare_unix_socket(path), Catch::Contains("in use"));
    CHECK(std::filesystem::exists(path));
}

TEST_CASE("a file that is not a socket is never deleted") {
    testing::TempDir dir;
    const auto path = dir.path() / "m.sock";
    std::ofstream(path) << "precious";
    CHECK_THROWS_WITH(prepare_unix_socket(path), Catch::Contains("not a socket"));
    CHECK(std::filesystem::exists(path));
}

TEST_CASE("mode and group are applied to the socket") {
    testing::TempDir dir;
    const auto path = dir.path() / "m.sock";
    const auto fd = bound_socket(path, true);
    const group* g = ::getgrgid(::getegid());
    REQUIRE(g);
    set_unix_socket_access(path, 0660, g->gr_name);
    struct stat st{};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0660);
    CHECK(st.st_gid == ::getegid());
    CHECK_THROWS_AS(set_unix_socket_access(path, 0660, "no-such-group-mdcrypt"), SocketError);
}
