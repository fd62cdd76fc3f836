#include "mailbox/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/spool.hpp"

namespace fs = std::filesystem;

namespace mdcrypt {

namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string hex(std::string_view bytes) {
    std::string out;
    for (const unsigned char c : bytes) {
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
    return out.empty() ? "-" : out;  // a field is never empty
}

std::optional<std::string> unhex(std::string_view text) {
    if (text == "-") return std::string();
    if (text.size() % 2 != 0) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const auto a = std::string_view(kHex).find(text[i]), b = std::string_view(kHex).find(text[i + 1]);
        if (a == std::string_view::npos || b == std::string_view::npos) return std::nullopt;
        out.push_back(static_cast<char>(a * 16 + b));
    }
    return out;
}

std::string join_flags(const std::vector<std::string>& flags) {
    std::string out;
    for (const auto& f : flags) out += (out.empty() ? "" : " ") + f;
    return out;
}

std::vector<std::string> split_flags(std::string_view text) {
    std::vector<std::string> out;
    while (!text.empty()) {
        const auto space = text.find(' ');
        if (space != 0) out.emplace_back(text.substr(0, space));
        if (space == std::string_view::npos) break;
        text.remove_prefix(space + 1);
    }
    return out;
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    while (!line.empty()) {
        const auto space = line.find(' ');
        out.push_back(line.substr(0, space));
        if (space == std::string_view::npos) break;
        line.remove_prefix(space + 1);
    }
    return out;
}

std::optional<std::uint32_t> number(std::string_view text) {
    if (text.empty() || text.size() > 10 || text.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    const unsigned long long n = std::stoull(std::string(text));
    if (n > UINT32_MAX) return std::nullopt;
    return static_cast<std::uint32_t>(n);
}

std::optional<std::uint64_t> big_number(std::string_view text) {
    if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
    return std::stoull(std::string(text));
}

bool is_token(std::string_view t) { return t.size() == 32 && t.find_first_not_of(kHex) == std::string_view::npos; }

void sync_or_throw(int fd, const fs::path& path) {
    if (::fsync(fd) != 0) throw std::runtime_error("cannot sync " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

std::string journal_begin_line(const JournalEntry& e) {
    return "begin " + e.token + " " + std::to_string(e.uid_validity) + " " + std::to_string(e.uid) + " " + hex(e.folder) +
           " " + hex(e.internal_date) + " " + hex(join_flags(e.flags)) + " " + e.batch + " " + std::to_string(e.offset) +
           " " + std::to_string(e.length) + "\n";
}

std::string journal_flags_line(std::string_view token, const std::vector<std::string>& flags) {
    return "flags " + std::string(token) + " " + hex(join_flags(flags)) + "\n";
}

std::string journal_end_lines(const std::vector<std::string>& tokens) {
    std::string out;
    for (const auto& t : tokens) out += "end " + t + "\n";
    return out;
}

std::vector<JournalEntry> parse_journal(std::string_view text) {
    std::vector<JournalEntry> entries;
    while (!text.empty()) {
        const auto lf = text.find('\n');
        if (lf == std::string_view::npos) break;  // torn last line
        const auto w = words(text.substr(0, lf));
        text.remove_prefix(lf + 1);
        if (w.size() < 2 || !is_token(w[1])) continue;
        const auto find = [&](std::string_view token) {
            return std::find_if(entries.begin(), entries.end(), [&](const JournalEntry& e) { return e.token == token; });
        };
        if (w[0] == "begin" && w.size() == 10) {
            const auto validity = number(w[2]), uid = number(w[3]);
            const auto folder = unhex(w[4]), date = unhex(w[5]), flags = unhex(w[6]);
            const auto offset = big_number(w[8]), length = big_number(w[9]);
            if (!validity || !uid || !folder || !date || !flags || !is_token(w[7]) || !offset || !length ||
                find(w[1]) != entries.end())
                continue;
            entries.push_back({std::string(w[1]), *folder, *validity, *uid, *date, split_flags(*flags), std::string(w[7]),
                               *offset, *length});
        } else if (w[0] == "flags" && w.size() == 3) {
            const auto flags = unhex(w[2]);
            const auto it = find(w[1]);
            if (flags && it != entries.end()) it->flags = split_flags(*flags);
        } else if (w[0] == "end" && w.size() == 2) {
            const auto it = find(w[1]);
            if (it != entries.end()) entries.erase(it);
        }
    }
    return entries;
}

std::string journal_directory_name(std::string_view user) {
    std::string out;
    for (const unsigned char c : user) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '@' || c == '.' || c == '_' || c == '-')
            out.push_back(static_cast<char>(c));
        else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    if (out.empty() || out == "." || out == "..") out = "%" + out;
    return out;
}

std::string new_journal_token() {
    unsigned char bytes[16];
    std::size_t got = 0;
    while (got < sizeof bytes) {
        const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error(std::string("getrandom: ") + std::strerror(errno));
        got += static_cast<std::size_t>(n);
    }
    return hex(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

Journal::Journal(fs::path directory) : directory_(std::move(directory)) {
    prepare_private_directory(directory_);
    const fs::path lock_path = directory_ / "lock";
    lock_ = FileDescriptor(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock_) throw std::runtime_error("cannot open " + lock_path.string() + ": " + std::strerror(errno));
    if (::flock(lock_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) throw JournalBusy("another mdcrypt-mailbox run holds " + lock_path.string());
        throw std::runtime_error("cannot lock " + lock_path.string() + ": " + std::strerror(errno));
    }
    const fs::path journal_path = directory_ / "journal";
    journal_ = FileDescriptor(::open(journal_path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!journal_) throw std::runtime_error("cannot open " + journal_path.string() + ": " + std::strerror(errno));
    std::string text;
    char chunk[65536];
    for (;;) {
        const ssize_t n = ::pread(journal_.get(), chunk, sizeof chunk, static_cast<off_t>(text.size()));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error("cannot read " + journal_path.string() + ": " + std::strerror(errno));
        if (n == 0) break;
        text.append(chunk, static_cast<std::size_t>(n));
    }
    // A torn last line must not glue onto the next record.
    if (!text.empty() && text.back() != '\n') append_line("\n", true);
    pending_ = parse_journal(text);
    // An entry whose batch file is missing or short was never begun (the file is synced before the line).
    std::erase_if(pending_, [&](const JournalEntry& e) {
        std::error_code ec;
        const auto size = fs::file_size(message_file(e.batch), ec);
        return ec || e.offset + e.length > size;
    });
}

fs::path Journal::message_file(std::string_view token) const { return directory_ / (std::string(token) + ".eml"); }

void Journal::append_line(const std::string& line, bool sync) {
    std::string_view rest = line;
    while (!rest.empty()) {
        const ssize_t n = ::write(journal_.get(), rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error("cannot write " + (directory_ / "journal").string() + ": " + std::strerror(errno));
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    if (sync) sync_or_throw(journal_.get(), directory_ / "journal");
}

void Journal::begin(std::vector<JournalEntry>& entries, const std::vector<ByteSource*>& copies) {
    const std::string batch = new_journal_token();
    const fs::path path = message_file(batch);
    FileDescriptor file(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!file) throw std::runtime_error("cannot create " + path.string() + ": " + std::strerror(errno));
    std::uint64_t offset = 0;
    char chunk[65536];
    for (std::size_t i = 0; i < entries.size(); ++i) {
        entries[i].batch = batch;
        entries[i].offset = offset;
        for (;;) {
            const std::size_t n = copies.at(i)->read(std::span<char>(chunk, sizeof chunk));
            if (n == 0) break;
            std::string_view rest(chunk, n);
            while (!rest.empty()) {
                const ssize_t w = ::write(file.get(), rest.data(), rest.size());
                if (w < 0 && errno == EINTR) continue;
                if (w < 0) throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(errno));
                rest.remove_prefix(static_cast<std::size_t>(w));
            }
            offset += n;
        }
        entries[i].length = offset - entries[i].offset;
    }
    sync_or_throw(file.get(), path);
    std::string lines;
    for (const auto& e : entries) lines += journal_begin_line(e);
    append_line(lines, true);
    pending_.insert(pending_.end(), entries.begin(), entries.end());
}

namespace {

// A slice of a batch file.
class SliceSource final : public ByteSource {
public:
    SliceSource(FileDescriptor fd, std::uint64_t offset, std::uint64_t length)
        : fd_(std::move(fd)), offset_(offset), left_(length) {}
    std::size_t read(std::span<char> out) override {
        if (left_ == 0) return 0;
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left_, out.size()));
        for (;;) {
            const ssize_t n = ::pread(fd_.get(), out.data(), want, static_cast<off_t>(offset_));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw std::runtime_error("a journal batch file is shorter than its entries");
            offset_ += static_cast<std::uint64_t>(n);
            left_ -= static_cast<std::uint64_t>(n);
            return static_cast<std::size_t>(n);
        }
    }

private:
    FileDescriptor fd_;
    std::uint64_t offset_;
    std::uint64_t left_;
};

}  // namespace

std::unique_ptr<ByteSource> Journal::copy_of(const JournalEntry& entry) const {
    const fs::path path = message_file(entry.batch);
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
    return std::make_unique<SliceSource>(std::move(fd), entry.offset, entry.length);
}

void Journal::update_flags(std::string_view token, const std::vector<std::string>& flags) {
    append_line(journal_flags_line(token, flags), true);
    for (auto& e : pending_)
        if (e.token == token) e.flags = flags;
}

void Journal::end(const std::vector<std::string>& tokens) {
    if (tokens.empty()) return;
    append_line(journal_end_lines(tokens), false);
    std::vector<std::string> batches;
    std::erase_if(pending_, [&](const JournalEntry& e) {
        if (std::find(tokens.begin(), tokens.end(), e.token) == tokens.end()) return false;
        batches.push_back(e.batch);
        return true;
    });
    for (const auto& batch : batches) {
        const bool needed = std::any_of(pending_.begin(), pending_.end(), [&](const JournalEntry& e) { return e.batch == batch; });
        std::error_code ignored;
        if (!needed) fs::remove(message_file(batch), ignored);
    }
}

void Journal::compact() {
    if (!pending_.empty()) return;
    if (::ftruncate(journal_.get(), 0) != 0)
        throw std::runtime_error("cannot empty " + (directory_ / "journal").string() + ": " + std::strerror(errno));
    std::error_code ignored;
    for (const auto& entry : fs::directory_iterator(directory_, ignored))
        if (entry.path().extension() == ".eml") fs::remove(entry.path(), ignored);
}

}  // namespace mdcrypt
