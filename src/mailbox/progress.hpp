// How far mdcrypt-mailbox is: a bar rewritten in place on a terminal, a plain line every ten seconds
// for a log or a journal, or nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace mdcrypt {

enum class ProgressStyle { Bar, Lines, None };

// "auto" (bar on a terminal, lines otherwise), "bar", "lines", "none"; nullopt for anything else.
std::optional<ProgressStyle> parse_progress_style(std::string_view option, bool stderr_is_terminal);

// "1200/10000 messages (12%), 105.3/s, ETA 1m24s": no rate or ETA before a second has passed.
std::string progress_text(std::uint64_t done, std::uint64_t total, double seconds);

// "[#########-----------]" of `width` cells.
std::string progress_bar(std::uint64_t done, std::uint64_t total, std::size_t width);

class ProgressReporter {
public:
    ProgressReporter(ProgressStyle style, std::ostream& out, std::string label);
    void set_total(std::uint64_t total) { total_ = total; }
    void step(std::uint64_t count = 1);
    void finish();  // the last state, and a line end after a bar

private:
    void show(bool force);

    ProgressStyle style_;
    std::ostream& out_;
    std::string label_;
    std::uint64_t total_ = 0;
    std::uint64_t done_ = 0;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_shown_{};
    bool shown_ = false;
};

}  // namespace mdcrypt
