#include <catch2/catch.hpp>

#include <memory>

#include "fakes.hpp"
#include "milter/connection_state.hpp"

using namespace mdcrypt;
using namespace mdcrypt::milter;

namespace {

std::shared_ptr<const Snapshot> snapshot_with_spool(const std::filesystem::path& dir) {
    auto config = std::make_shared<Config>();
    config->milter.spool_directory = dir;
    config->milter.body_memory_limit = 16;
    auto snapshot = std::make_shared<Snapshot>();
    snapshot->config = config;
    snapshot->generation = 7;
    return snapshot;
}

}  // namespace

TEST_CASE("no message exists before MAIL FROM") {
    testing::TempDir dir;
    ConnectionState c(snapshot_with_spool(dir.path()));
    CHECK_FALSE(c.has_message());
    CHECK_THROWS_AS(c.message(), NoMessage);
    CHECK_THROWS_AS(c.take_message(), NoMessage);
}

TEST_CASE("MAIL FROM starts a fresh message that replaces anything left over") {
    testing::TempDir dir;
    ConnectionState c(snapshot_with_spool(dir.path()));
    auto& first = c.begin_message();
    first.add_recipient("<a@example.test>");
    first.append_body("old body\r\n");
    auto& second = c.begin_message();
    CHECK(second.recipients().empty());
    CHECK(second.body_bytes_received() == 0);
    CHECK(c.messages_started() == 2);
}

TEST_CASE("abort drops the message, the connection carries on with the next one") {
    testing::TempDir dir;
    ConnectionState c(snapshot_with_spool(dir.path()));
    c.begin_message().add_recipient("<a@example.test>");
    c.reset_message();
    CHECK_FALSE(c.has_message());
    CHECK_THROWS_AS(c.message(), NoMessage);
    c.begin_message().add_recipient("<b@example.test>");
    REQUIRE(c.message().recipients().size() == 1);
    CHECK(c.message().recipients()[0] == "<b@example.test>");
}

TEST_CASE("end of message takes the message out: the connection holds none afterwards") {
    testing::TempDir dir;
    ConnectionState c(snapshot_with_spool(dir.path()));
    c.begin_message().add_recipient("<a@example.test>");
    const auto taken = c.take_message();
    REQUIRE(taken);
    CHECK(taken->recipients().size() == 1);
    CHECK_FALSE(c.has_message());
}

TEST_CASE("messages use the pinned snapshot's spool settings") {
    testing::TempDir dir;
    ConnectionState c(snapshot_with_spool(dir.path()));
    CHECK(c.snapshot().generation == 7);
    auto& m = c.begin_message();
    m.append_body(std::string(17, 'x'));  // above the 16-byte memory limit
    CHECK(m.body_on_disk());
}
