#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/log_line.hpp"
#include "test_files.hpp"

using namespace mdcrypt;

namespace {

// Reads a line the way a log parser would: an optional "QUEUEID:" prefix, then key=value pairs
// separated by single spaces, a value bare or in double quotes with \" \\ \xHH escapes.
struct Parsed {
    std::string queue_id;
    std::vector<std::pair<std::string, std::string>> fields;
};

Parsed parse(const std::string& line) {
    Parsed out;
    std::size_t i = 0;
    const auto colon = line.find(": ");
    const auto eq = line.find('=');
    if (colon != std::string::npos && colon < eq) {
        out.queue_id = line.substr(0, colon);
        i = colon + 2;
    }
    while (i < line.size()) {
        const auto e = line.find('=', i);
        REQUIRE(e != std::string::npos);
        std::string key = line.substr(i, e - i);
        for (char c : key) REQUIRE(((c >= 'a' && c <= 'z') || c == '_'));
        i = e + 1;
        std::string value;
        if (i < line.size() && line[i] == '"') {
            ++i;
            while (true) {
                REQUIRE(i < line.size());
                const char c = line[i++];
                if (c == '"') break;
                if (c == '\\') {
                    REQUIRE(i < line.size());
                    const char n = line[i++];
                    if (n == 'x') {
                        REQUIRE(i + 2 <= line.size());
                        value.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
                        i += 2;
                    } else {
                        value.push_back(n);
                    }
                } else {
                    value.push_back(c);
                }
            }
        } else {
            const auto sp = line.find(' ', i);
            value = line.substr(i, sp == std::string::npos ? std::string::npos : sp - i);
            i = sp == std::string::npos ? line.size() : sp;
        }
        out.fields.emplace_back(std::move(key), std::move(value));
        if (i < line.size()) {
            REQUIRE(line[i] == ' ');
            ++i;
        }
    }
    return out;
}

}  // namespace

TEST_CASE("values: bare when safe, quoted and escaped otherwise") {
    struct Row {
        std::string in;
        std::string out;
    };
    const std::vector<Row> rows{
        {"encrypt", "encrypt"},
        {"<alice@example.test>", "<alice@example.test>"},
        {"AAAA,BBBB", "AAAA,BBBB"},
        {"", "\"\""},
        {"452 4.3.4", "\"452 4.3.4\""},
        {"a=b", "\"a=b\""},
        {"say \"hi\"", "\"say \\\"hi\\\"\""},
        {"back\\slash", "\"back\\\\slash\""},
        {"tab\there", "\"tab\\x09here\""},
        {"line\r\nX-Injected: yes", "\"line\\x0d\\x0aX-Injected: yes\""},
        {std::string("nul\0byte", 8), "\"nul\\x00byte\""},
        {"del\x7f", "\"del\\x7f\""},
        {"caf\xc3\xa9", "\"caf\\xc3\\xa9\""},
        {"<\"a verdict=encrypt x\"@example.test>", "\"<\\\"a verdict=encrypt x\\\"@example.test>\""},
    };
    for (const auto& row : rows) {
        INFO(row.in);
        CHECK(log_value(row.in) == row.out);
    }
}

TEST_CASE("values are cut at kMaxLogValueBytes, marked, and still one value") {
    const std::string long_value(kMaxLogValueBytes + 100, 'a');
    const std::string v = log_value(long_value);
    CHECK(v == "\"" + std::string(kMaxLogValueBytes, 'a') + "...\"");
    CHECK(log_value(std::string(kMaxLogValueBytes, 'a')) == std::string(kMaxLogValueBytes, 'a'));
}

TEST_CASE("the queue id prefixes the line when known, Postfix style, no prefix otherwise") {
    CHECK(LogLine("4Xyz12").add("verdict", "pass").str() == "4Xyz12: verdict=pass");
    CHECK(LogLine().add("verdict", "pass").add("exit", std::uint64_t{0}).str() == "verdict=pass exit=0");
    CHECK(LogLine("A B\nC:").add("k", true).str() == "A?B?C?: k=yes");
    CHECK(LogLine(std::string(200, 'Q')).str() == std::string(kMaxQueueIdBytes, 'Q') + ":");
    const std::vector<std::string> none, two{"AAAA", "BBBB"};
    CHECK(LogLine().add_list("keys", none).add_list("k2", two).str() == "keys=- k2=AAAA,BBBB");
}

TEST_CASE("a sender-chosen value can neither add a field nor end one") {
    const std::vector<std::string> hostile{
        "<\"a verdict=encrypt x\"@example.test>",
        "no usable key: no key for \"a verdict=encrypt x\"@example.test in keyring",
        "x\" verdict=encrypt reason=\"",
        "\\\" verdict=encrypt",
        "trailing backslash\\",
        "a\nverdict=encrypt",
        std::string(kMaxLogValueBytes - 1, 'x') + "\\\" verdict=encrypt",  // the cut lands inside an escape
    };
    for (const auto& h : hostile) {
        INFO(h);
        const std::string line = LogLine("Q1").add("rcpt", h).add("verdict", "pass").add("reason", h).str();
        CHECK(line.find('\n') == std::string::npos);
        const Parsed p = parse(line);
        CHECK(p.queue_id == "Q1");
        REQUIRE(p.fields.size() == 3);
        CHECK(p.fields[0].first == "rcpt");
        CHECK(p.fields[1] == std::make_pair(std::string("verdict"), std::string("pass")));
        CHECK(p.fields[2].first == "reason");
        if (h.size() <= kMaxLogValueBytes) CHECK(p.fields[0].second == h);  // the value reads back exactly
    }
}

TEST_CASE("one vocabulary: each word once, every enum value has a word from the table") {
    std::set<std::string_view> words;
    for (const auto& w : log_vocabulary()) {
        CHECK(words.insert(w.word).second);
        CHECK(log_value(w.word) == w.word);  // never needs quoting
        CHECK_FALSE(w.meaning.empty());
    }
    using A = MessageDecision::Action;
    for (A a : {A::Encrypt, A::Pass, A::Defer, A::Reject}) CHECK(words.count(log_word(a)) == 1);
    for (RecipientClass c : {RecipientClass::Encrypt, RecipientClass::Plain, RecipientClass::Refuse, RecipientClass::Defer})
        CHECK(words.count(log_word(c)) == 1);
    using V = Admission::Verdict;
    for (V v : {V::Accept, V::Refuse, V::Defer, V::Separate}) CHECK(words.count(log_word(v)) == 1);
    // The same outcome, the same word wherever it is logged.
    CHECK(log_word(A::Defer) == log_word(RecipientClass::Defer));
    CHECK(log_word(A::Defer) == log_word(V::Defer));
    CHECK(log_word(A::Encrypt) == log_word(RecipientClass::Encrypt));
    CHECK(log_word(RecipientClass::Refuse) == log_word(V::Refuse));
    CHECK(log_word(A::Pass) == "pass");
}

TEST_CASE("README's Logging section lists every word of the vocabulary") {
    const std::string readme = mdcrypt::testing::read_file(std::string(MDCRYPT_SOURCE_DIR) + "/README.md");
    const auto start = readme.find("\n## Logging");
    REQUIRE(start != std::string::npos);
    const auto end = readme.find("\n## ", start + 1);
    const std::string section = readme.substr(start, end == std::string::npos ? std::string::npos : end - start);
    for (const auto& w : log_vocabulary()) {
        INFO(w.word);
        CHECK(section.find("| `" + std::string(w.word) + "` |") != std::string::npos);
    }
}
