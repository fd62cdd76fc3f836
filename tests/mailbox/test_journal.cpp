#include "mailbox/journal.hpp"

#include <catch2/catch.hpp>
#include <fstream>

#include "temp_dir.hpp"

using namespace mdcrypt;

namespace {

JournalEntry entry(std::uint32_t uid, std::string folder = "Archive/2019") {
    return {new_journal_token(), std::move(folder), 1796375750, uid, "01-Feb-2020 09:00:00 +0000", {"\\Seen", "$Label1"}, {}, 0, 0};
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("journal lines read back as the entries begun and not ended") {
    JournalEntry a = entry(7, "Entw&APw-rfe with space"), b = entry(8);
    a.batch = b.batch = std::string(32, 'b');
    a.length = 10;
    b.offset = 10;
    b.length = 20;
    const std::string text = journal_begin_line(a) + journal_begin_line(b) + journal_flags_line(b.token, {"\\Flagged"}) +
                             journal_end_lines({a.token});
    const auto pending = parse_journal(text);
    REQUIRE(pending.size() == 1);
    b.flags = {"\\Flagged"};
    CHECK(pending[0] == b);
}

TEST_CASE("a torn last line, never synced and never acted on, is ignored") {
    JournalEntry a = entry(7);
    a.batch = std::string(32, 'b');
    const std::string line = journal_begin_line(a);
    CHECK(parse_journal(line.substr(0, line.size() - 1)).empty());
    CHECK(parse_journal("garbage line\n" + line).size() == 1);
}

TEST_CASE("user names become safe directory names") {
    CHECK(journal_directory_name("alice@example.org") == "alice@example.org");
    CHECK(journal_directory_name("../etc") == "..%2fetc");
    CHECK(journal_directory_name("..") == "%..");
}

TEST_CASE("copies written with begin survive a restart until ended, and the lock keeps a second run out") {
    testing::TempDir dir;
    const auto path = dir.path() / "alice";
    std::vector<JournalEntry> entries{entry(7), entry(9)};
    {
        Journal journal(path);
        CHECK_THROWS_AS(Journal(path), JournalBusy);
        StringSource first("first copy"), second("the second copy");
        journal.begin(entries, {&first, &second});
        CHECK(entries[1].offset == 10);
        CHECK(entries[1].length == 15);
    }  // "killed" here: nothing ended
    {
        Journal journal(path);
        REQUIRE(journal.pending().size() == 2);
        CHECK(journal.pending()[1] == entries[1]);
        auto copy = journal.copy_of(journal.pending()[1]);
        CHECK(read_all(*copy) == "the second copy");
        journal.end({entries[0].token});
    }
    Journal journal(path);
    REQUIRE(journal.pending().size() == 1);
    journal.end({entries[1].token});
    journal.compact();
    CHECK(slurp(path / "journal").empty());
    for (const auto& f : std::filesystem::directory_iterator(path)) CHECK(f.path().extension() != ".eml");
}

TEST_CASE("an entry whose batch file is short was never begun") {
    testing::TempDir dir;
    const auto path = dir.path() / "bob";
    std::vector<JournalEntry> entries{entry(3)};
    {
        Journal journal(path);
        StringSource copy("0123456789");
        journal.begin(entries, {&copy});
    }
    std::filesystem::resize_file(path / (entries[0].batch + ".eml"), 4);
    CHECK(Journal(path).pending().empty());
}
