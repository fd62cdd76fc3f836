#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "fakes.hpp"
#include "milter/edit_applier.hpp"

using namespace mdcrypt;
using namespace mdcrypt::milter;

namespace {

// Records what the applier asked the MTA to do, in order.
class RecordingOps final : public MilterOps {
public:
    struct Call {
        std::string op;  // add, change, delete, body
        std::string name;
        int index = 0;
        std::string value;
    };

    bool add_header(const std::string& name, const std::string& value) override {
        calls.push_back({"add", name, 0, value});
        return !(refuse_at && *refuse_at == calls.size() - 1);
    }
    bool change_header(const std::string& name, int index, const std::string* value) override {
        calls.push_back({value ? "change" : "delete", name, index, value ? *value : ""});
        return !(refuse_at && *refuse_at == calls.size() - 1);
    }
    bool replace_body(std::span<const char> chunk) override {
        calls.push_back({"body", "", 0, std::string(chunk.data(), chunk.size())});
        return !(refuse_at && *refuse_at == calls.size() - 1);
    }

    std::vector<Call> calls;
    std::optional<std::size_t> refuse_at;  // the call with this index fails
};

EncryptedMessage make_message(const std::filesystem::path& spool_dir, std::size_t armor_bytes) {
    Spool armor({spool_dir, 4096});
    std::string line(63, 'A');
    line += "\r\n";
    for (std::size_t written = 0; written < armor_bytes; written += line.size()) armor.write(line);
    EncryptedMessage message;
    message.header_edits = {
        {HeaderEdit::Kind::Delete, "Content-Transfer-Encoding", 2, {}},
        {HeaderEdit::Kind::Delete, "Content-Transfer-Encoding", 1, {}},
        {HeaderEdit::Kind::Change, "Content-Type", 1, " multipart/encrypted;\r\n\tboundary=\"b\""},
        {HeaderEdit::Kind::Add, "MIME-Version", 0, " 1.0"},
    };
    message.body = std::make_unique<EncryptedBody>("b", std::move(armor));
    return message;
}

std::string concatenated_body(const std::vector<RecordingOps::Call>& calls) {
    std::string body;
    for (const auto& c : calls)
        if (c.op == "body") body += c.value;
    return body;
}

}  // namespace

TEST_CASE("header edits are applied in the core's order, before the body") {
    testing::TempDir dir;
    const auto message = make_message(dir.path(), 1000);
    RecordingOps ops;
    const auto stats = EditApplier(ops, true).apply(message);
    REQUIRE(ops.calls.size() >= 5);
    CHECK(ops.calls[0].op == "delete");
    CHECK(ops.calls[0].index == 2);
    CHECK(ops.calls[1].op == "delete");
    CHECK(ops.calls[1].index == 1);
    CHECK(ops.calls[2].op == "change");
    CHECK(ops.calls[2].name == "Content-Type");
    CHECK(ops.calls[3].op == "add");
    CHECK(ops.calls[3].name == "MIME-Version");
    for (std::size_t i = 4; i < ops.calls.size(); ++i) CHECK(ops.calls[i].op == "body");
    CHECK(stats.header_edits == 4);
}

TEST_CASE("values go to the MTA with LF folding, and the leading space only with HDR_LEADSPC") {
    testing::TempDir dir;
    const auto message = make_message(dir.path(), 10);
    RecordingOps with_space, without_space;
    EditApplier(with_space, true).apply(message);
    EditApplier(without_space, false).apply(message);
    CHECK(with_space.calls[2].value == " multipart/encrypted;\n\tboundary=\"b\"");
    CHECK(with_space.calls[3].value == " 1.0");
    CHECK(without_space.calls[2].value == "multipart/encrypted;\n\tboundary=\"b\"");
    CHECK(without_space.calls[3].value == "1.0");
}

TEST_CASE("the body is streamed in chunks of at most 64 KiB and arrives whole") {
    testing::TempDir dir;
    const auto message = make_message(dir.path(), 300 * 1024);
    RecordingOps ops;
    const auto stats = EditApplier(ops, true).apply(message);
    std::size_t chunks = 0;
    for (const auto& c : ops.calls) {
        if (c.op != "body") continue;
        ++chunks;
        CHECK(c.value.size() <= 64 * 1024);
        CHECK(c.value.size() > 0);
    }
    CHECK(chunks == stats.body_chunks);
    CHECK(chunks >= 5);
    const auto reader = message.body->reader();
    const std::string expected = read_all(*reader);
    CHECK(concatenated_body(ops.calls) == expected);
    CHECK(stats.body_bytes == expected.size());
    CHECK(stats.body_bytes == message.body->size());
}

TEST_CASE("chunks are full except the last, so a body is sent in as few calls as allowed") {
    testing::TempDir dir;
    const auto message = make_message(dir.path(), 200 * 1024);
    RecordingOps ops;
    EditApplier(ops, true).apply(message);
    std::vector<std::size_t> sizes;
    for (const auto& c : ops.calls)
        if (c.op == "body") sizes.push_back(c.value.size());
    REQUIRE(sizes.size() >= 2);
    for (std::size_t i = 0; i + 1 < sizes.size(); ++i) CHECK(sizes[i] == kReplaceBodyChunk);
}

TEST_CASE("a refused header edit stops everything: no body is sent") {
    testing::TempDir dir;
    const auto message = make_message(dir.path(), 1000);
    RecordingOps ops;
    ops.refuse_at = 2;
    CHECK_THROWS_AS(EditApplier(ops, true).apply(message), MilterOpError);
    CHECK(ops.calls.size() == 3);
}

TEST_CASE("a refused body chunk is an error") {
    testing::TempDir dir;
    const auto message = make_message(dir.path(), 100 * 1024);
    RecordingOps ops;
    ops.refuse_at = 4;  // the first body chunk
    CHECK_THROWS_AS(EditApplier(ops, true).apply(message), MilterOpError);
}
