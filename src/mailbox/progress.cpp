#include "mailbox/progress.hpp"

#include <cmath>
#include <cstdio>

namespace mdcrypt {

std::optional<ProgressStyle> parse_progress_style(std::string_view option, bool stderr_is_terminal) {
    if (option == "auto") return stderr_is_terminal ? ProgressStyle::Bar : ProgressStyle::Lines;
    if (option == "bar") return ProgressStyle::Bar;
    if (option == "lines") return ProgressStyle::Lines;
    if (option == "none") return ProgressStyle::None;
    return std::nullopt;
}

namespace {

std::string duration_text(double seconds) {
    const auto s = static_cast<std::uint64_t>(std::llround(seconds));
    char buf[32];
    if (s >= 3600) std::snprintf(buf, sizeof buf, "%lluh%02llum", static_cast<unsigned long long>(s / 3600),
                                 static_cast<unsigned long long>(s / 60 % 60));
    else if (s >= 60) std::snprintf(buf, sizeof buf, "%llum%02llus", static_cast<unsigned long long>(s / 60),
                                    static_cast<unsigned long long>(s % 60));
    else std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
    return buf;
}

}  // namespace

std::string progress_text(std::uint64_t done, std::uint64_t total, double seconds) {
    std::string text = std::to_string(done) + "/" + std::to_string(total) + " messages";
    if (total > 0) text += " (" + std::to_string(done * 100 / total) + "%)";
    if (seconds >= 1.0 && done > 0) {
        const double rate = static_cast<double>(done) / seconds;
        char buf[32];
        std::snprintf(buf, sizeof buf, ", %.1f/s", rate);
        text += buf;
        if (total > done) text += ", ETA " + duration_text(static_cast<double>(total - done) / rate);
    }
    return text;
}

std::string progress_bar(std::uint64_t done, std::uint64_t total, std::size_t width) {
    const std::size_t filled = total == 0 ? width : static_cast<std::size_t>(std::min(done, total) * width / total);
    std::string bar = "[";
    bar.append(filled, '#').append(width - filled, '-').push_back(']');
    return bar;
}

ProgressReporter::ProgressReporter(ProgressStyle style, std::ostream& out, std::string label)
    : style_(style), out_(out), label_(std::move(label)) {}

void ProgressReporter::step(std::uint64_t count) {
    done_ += count;
    show(false);
}

void ProgressReporter::show(bool force) {
    if (style_ == ProgressStyle::None) return;
    const auto now = std::chrono::steady_clock::now();
    const auto interval = style_ == ProgressStyle::Bar ? std::chrono::milliseconds(200) : std::chrono::milliseconds(10000);
    if (!force && shown_ && now - last_shown_ < interval) return;
    if (!force && !shown_ && style_ == ProgressStyle::Lines && now - started_ < interval) return;
    last_shown_ = now;
    shown_ = true;
    const double seconds = std::chrono::duration<double>(now - started_).count();
    const std::string text = label_ + ": " + progress_text(done_, total_, seconds);
    if (style_ == ProgressStyle::Bar) out_ << "\r" << progress_bar(done_, total_, 30) << " " << text << "\x1b[K" << std::flush;
    else out_ << text << "\n" << std::flush;
}

void ProgressReporter::finish() {
    if (style_ == ProgressStyle::None) return;
    show(true);
    if (style_ == ProgressStyle::Bar) out_ << "\n" << std::flush;
}

}  // namespace mdcrypt
