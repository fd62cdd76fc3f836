#include "mailbox/imap_connection.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <optional>
#include <thread>

#include "mailbox/imap_value.hpp"
#include "temp_dir.hpp"

using namespace mdcrypt;

namespace {

// A scripted server: what it will say is written on a thread (it may exceed a pipe's buffer); what
// the client sent is read back from the other pipe.
struct FakeServer {
    FileDescriptor client_writes_to, server_reads;
    FileDescriptor server_writes, client_reads_from;
    std::thread speaker;

    FakeServer() {
        int a[2], b[2];
        REQUIRE(::pipe2(a, O_CLOEXEC) == 0);
        REQUIRE(::pipe2(b, O_CLOEXEC) == 0);
        server_reads = FileDescriptor(a[0]);
        client_writes_to = FileDescriptor(a[1]);
        client_reads_from = FileDescriptor(b[0]);
        server_writes = FileDescriptor(b[1]);
    }
    ~FakeServer() {
        if (speaker.joinable()) speaker.join();
    }
    void say(std::string text, bool then_close) {
        speaker = std::thread([this, text = std::move(text), then_close] {
            std::string_view rest = text;
            while (!rest.empty()) {
                const ssize_t n = ::write(server_writes.get(), rest.data(), rest.size());
                if (n <= 0) break;
                rest.remove_prefix(static_cast<std::size_t>(n));
            }
            if (then_close) server_writes = FileDescriptor();
        });
    }
    std::string heard() {
        std::string out;
        char buf[4096];
        for (;;) {
            const ssize_t n = ::read(server_reads.get(), buf, sizeof buf);
            if (n <= 0) break;
            out.append(buf, static_cast<std::size_t>(n));
        }
        return out;
    }
};

}  // namespace

TEST_CASE("a FETCH with a large literal: the body lands in a spool file, byte exact, and the status follows") {
    testing::TempDir dir;
    FakeServer server;
    std::string body;
    for (int i = 0; body.size() < 300000; ++i) body += "line " + std::to_string(i) + "\r\n";
    server.say("* 1 FETCH (UID 9 BODY[] {" + std::to_string(body.size()) + "}\r\n" + body + ")\r\n* 3 EXISTS\r\nm1 OK done\r\n", false);
    ImapConnection connection(std::move(server.client_writes_to), std::move(server.client_reads_from),
                              SpoolSettings{dir.path(), 65536});
    std::vector<std::string> untagged;
    std::string received;
    bool on_disk = false;
    const ImapStatus status = connection.command("UID FETCH 9 (BODY.PEEK[])", [&](ImapLine& line) {
        untagged.push_back(line.text);
        if (!line.literals.empty()) {
            on_disk = line.literals[0].on_disk();
            auto reader = line.literals[0].reader();
            received = read_all(*reader);
        }
    });
    CHECK(status.ok());
    CHECK(status.text == "done");
    REQUIRE(untagged.size() == 2);
    CHECK(untagged[0] == std::string("1 FETCH (UID 9 BODY[] ") + kLiteralMarker + ")");
    CHECK(untagged[1] == "3 EXISTS");
    CHECK(received == body);
    CHECK(on_disk);  // over the memory limit: not held in memory
}

TEST_CASE("a command with literals is sent as LITERAL+ without waiting") {
    testing::TempDir dir;
    FakeServer server;
    server.say("m1 OK [APPENDUID 5 8:9] done\r\n", false);
    std::optional<ImapConnection> connection;
    connection.emplace(std::move(server.client_writes_to), std::move(server.client_reads_from), SpoolSettings{dir.path(), 4096});
    StringSource one("hello"), two("world!");
    const ImapStatus status = connection->command_with_literals(
        "APPEND \"INBOX\"", {{" (\\Seen) \"01-Feb-2020 10:00:00 +0100\"", &one, 5}, {" () \"02-Feb-2020 10:00:00 +0100\"", &two, 6}});
    CHECK(status.ok());
    CHECK(response_code(status.text) == "APPENDUID 5 8:9");
    connection.reset();  // closes our end, so reading what the server heard ends
    CHECK(server.heard() ==
          "m1 APPEND \"INBOX\" (\\Seen) \"01-Feb-2020 10:00:00 +0100\" {5+}\r\nhello () \"02-Feb-2020 10:00:00 +0100\" {6+}\r\nworld!\r\n");
}

TEST_CASE("a server that goes away inside a literal is an error, not a short message") {
    testing::TempDir dir;
    FakeServer server;
    server.say("* 1 FETCH (UID 9 BODY[] {100}\r\nonly part", true);
    ImapConnection connection(std::move(server.client_writes_to), std::move(server.client_reads_from), SpoolSettings{dir.path(), 4096});
    CHECK_THROWS_WITH(connection.command("UID FETCH 9 (BODY.PEEK[])"), Catch::Contains("closed the connection inside a literal"));
}

TEST_CASE("hostile responses are refused within the limits") {
    testing::TempDir dir;
    SECTION("a line without end") {
        FakeServer server;
        server.say("* " + std::string(5000, 'x'), false);
        ImapLimits limits;
        limits.max_line_bytes = 4096;
        ImapConnection connection(std::move(server.client_writes_to), std::move(server.client_reads_from), SpoolSettings{dir.path(), 4096}, limits);
        CHECK_THROWS_AS(connection.command("NOOP"), ImapProtocolError);
    }
    SECTION("a literal over the size limit") {
        FakeServer server;
        server.say("* 1 FETCH (BODY[] {2000000}\r\n", false);
        ImapLimits limits;
        limits.max_literal_bytes = 1000000;
        ImapConnection connection(std::move(server.client_writes_to), std::move(server.client_reads_from), SpoolSettings{dir.path(), 4096}, limits);
        CHECK_THROWS_WITH(connection.command("NOOP"), Catch::Contains("over the limit"));
    }
    SECTION("a NUL byte in a line") {
        FakeServer server;
        server.say(std::string("* OK a\0b\r\nm1 OK\r\n", 17), false);
        ImapConnection connection(std::move(server.client_writes_to), std::move(server.client_reads_from), SpoolSettings{dir.path(), 4096});
        CHECK_THROWS_AS(connection.command("NOOP"), ImapProtocolError);
    }
    SECTION("silence past the timeout") {
        FakeServer server;
        ImapLimits limits;
        limits.timeout = std::chrono::seconds(1);
        ImapConnection connection(std::move(server.client_writes_to), std::move(server.client_reads_from), SpoolSettings{dir.path(), 4096}, limits);
        CHECK_THROWS_WITH(connection.command("NOOP"), Catch::Contains("sent nothing for 1 s"));
    }
}
