// Shared by the benchmark programs: the message bodies both encrypt (so the milter and raw GPGME see the
// same bytes), latency statistics, and the one-line key=value result format run-bench parses.
//
// Benchmarks only: no timed assertions anywhere, nothing here is run by ctest.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mdcrypt::bench {

using Clock = std::chrono::steady_clock;

inline double ms_between(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// splitmix64: deterministic, so both programs generate byte-identical bodies from the same seed.
class Rng {
public:
    explicit Rng(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

private:
    std::uint64_t state_;
};

// Realistic mail text: words of English prose in lines of at most 72 characters, paragraphs separated
// by empty lines, CRLF line ends (as an MTA hands a body to a milter). Exactly `size` bytes.
inline std::string text_body(std::size_t size, std::uint64_t seed) {
    static constexpr std::array<std::string_view, 96> kWords = {
        "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
        "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they",
        "you", "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when",
        "will", "would", "who", "so", "no", "meeting", "report", "quarter", "budget", "server", "account",
        "invoice", "schedule", "project", "review", "attached", "please", "thanks", "regards", "tomorrow",
        "customer", "delivery", "contract", "version", "release", "question", "answer", "update", "draft",
        "figures", "estimate", "deadline", "office", "travel", "expenses", "approved", "pending", "details",
        "agenda", "minutes", "proposal", "feedback", "changes", "document", "summary", "request", "support",
        "network", "backup", "password"};
    Rng rng(seed);
    std::string out;
    out.reserve(size + 80);
    std::size_t line = 0;
    std::size_t lines_in_paragraph = 0;
    std::size_t paragraph_lines = 3 + rng.below(8);
    bool sentence_start = true;
    while (out.size() < size) {
        std::string word(kWords[rng.below(kWords.size())]);
        if (sentence_start) word[0] = static_cast<char>(word[0] - 'a' + 'A');
        sentence_start = rng.below(12) == 0;
        if (sentence_start) word += '.';
        else if (rng.below(15) == 0) word += ',';
        if (line > 0 && line + 1 + word.size() > 72) {
            out += "\r\n";
            line = 0;
            if (++lines_in_paragraph == paragraph_lines) {
                out += "\r\n";
                lines_in_paragraph = 0;
                paragraph_lines = 3 + rng.below(8);
            }
        }
        if (line > 0) {
            out += ' ';
            ++line;
        }
        out += word;
        line += word.size();
    }
    out.resize(size >= 2 ? size - 2 : 0);
    out += std::string_view("\r\n").substr(0, size - out.size());
    return out;
}

// An attachment: base64 of random bytes, 76 characters a line, CRLF. Exactly `size` bytes.
inline std::string binary_body(std::size_t size, std::uint64_t seed) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Rng rng(seed);
    std::string out;
    out.reserve(size + 80);
    std::size_t line = 0;
    while (out.size() < size) {
        const std::uint64_t r = rng.next();
        for (int i = 0; i < 8 && out.size() < size; ++i) {  // 8 random sextets per draw
            out += kAlphabet[(r >> (6 * i)) & 63];
            if (++line == 76) {
                out += "\r\n";
                line = 0;
            }
        }
    }
    out.resize(size >= 2 ? size - 2 : 0);
    out += std::string_view("\r\n").substr(0, size - out.size());
    return out;
}

struct HeaderField {
    std::string name;
    std::string value;  // without the leading space after the colon
};

// The Content-* fields of a benchmark message, as the sender wrote them.
inline std::vector<HeaderField> content_fields(bool binary) {
    if (binary)
        return {{"Content-Type", "application/octet-stream; name=\"data.bin\""},
                {"Content-Transfer-Encoding", "base64"},
                {"Content-Disposition", "attachment; filename=\"data.bin\""}};
    return {{"Content-Type", "text/plain; charset=utf-8; format=flowed"}, {"Content-Transfer-Encoding", "8bit"}};
}

// What the milter encrypts for a message: its Content-* fields, an empty line, the body (RFC 3156 entity).
inline std::string inner_entity(bool binary, const std::string& body) {
    std::string out;
    for (const auto& f : content_fields(binary)) out += f.name + ": " + f.value + "\r\n";
    out += "\r\n";
    out += body;
    return out;
}

// `variants` distinct bodies of `size` bytes, the same for the same arguments in every program.
inline std::vector<std::string> make_bodies(std::size_t size, bool binary, std::size_t variants, std::uint64_t seed) {
    std::vector<std::string> bodies;
    for (std::size_t i = 0; i < variants; ++i) {
        const std::uint64_t s = seed * 1000003ULL + i;
        bodies.push_back(binary ? binary_body(size, s) : text_body(size, s));
    }
    return bodies;
}

// "10240", "10K", "1M" (binary multiples).
inline std::size_t parse_size(std::string_view text) {
    if (text.empty()) throw std::invalid_argument("empty size");
    std::size_t multiplier = 1;
    const char last = text.back();
    if (last == 'K' || last == 'k') multiplier = 1024;
    else if (last == 'M' || last == 'm') multiplier = 1024 * 1024;
    else if (last == 'G' || last == 'g') multiplier = 1024ULL * 1024 * 1024;
    if (multiplier != 1) text.remove_suffix(1);
    std::size_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') throw std::invalid_argument("not a size: " + std::string(text));
        value = value * 10 + static_cast<std::size_t>(c - '0');
    }
    return value * multiplier;
}

inline double parse_number(std::string_view text) {
    const std::string s(text);
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0)
        throw std::invalid_argument("not a number: " + s);
    return v;
}

// What both load drivers (gpgme_raw, milter_load) measure, with the same options and defaults, so
// their runs compare: --concurrency --messages --seconds --size --binary --warmup --variants --seed
// --label.
struct LoadShape {
    unsigned concurrency = 1;
    std::size_t messages = 0;  // total, measured (not counting warm-up)
    double seconds = 0;        // or: run this long
    std::size_t size = 10 * 1024;
    bool binary = false;
    std::size_t warmup = 1;  // per worker, not measured
    std::size_t variants = 4;
    std::uint64_t seed = 1;
    std::string label;
};

// Reads `arg` when it is one of LoadShape's options (`value` yields its argument); false otherwise.
template <class ValueFn>
bool parse_load_option(std::string_view arg, ValueFn&& value, LoadShape& shape) {
    if (arg == "--concurrency") shape.concurrency = static_cast<unsigned>(parse_size(value()));
    else if (arg == "--messages") shape.messages = parse_size(value());
    else if (arg == "--seconds") shape.seconds = parse_number(value());
    else if (arg == "--size") shape.size = parse_size(value());
    else if (arg == "--binary") shape.binary = true;
    else if (arg == "--warmup") shape.warmup = parse_size(value());
    else if (arg == "--variants") shape.variants = parse_size(value());
    else if (arg == "--seed") shape.seed = parse_size(value());
    else if (arg == "--label") shape.label = value();
    else return false;
    return true;
}

// The checks both drivers make after parsing: an error text for usage(), or empty.
inline std::string check_load_shape(LoadShape& shape) {
    if ((shape.messages == 0) == (shape.seconds <= 0)) return "give exactly one of --messages and --seconds";
    if (shape.concurrency == 0) return "--concurrency must be at least 1";
    if (shape.variants == 0) shape.variants = 1;
    return {};
}

// Nearest-rank percentile of an unsorted sample (copied).
inline double percentile(std::vector<double> sample, double p) {
    if (sample.empty()) return 0.0;
    std::sort(sample.begin(), sample.end());
    const double rank = std::ceil(p / 100.0 * static_cast<double>(sample.size()));
    const auto index = static_cast<std::size_t>(std::max(1.0, rank)) - 1;
    return sample[std::min(index, sample.size() - 1)];
}

inline double mean(const std::vector<double>& sample) {
    if (sample.empty()) return 0.0;
    double sum = 0;
    for (double v : sample) sum += v;
    return sum / static_cast<double>(sample.size());
}

inline std::string fixed(double v, int decimals = 2) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
    return buffer;
}

// Ends a line of " key=value" pairs: the machine-readable result run-bench parses.
class ResultLine {
public:
    explicit ResultLine(std::string_view bench) { line_ = "RESULT bench=" + std::string(bench); }
    ResultLine& add(std::string_view key, const std::string& value) {
        line_ += ' ';
        line_ += key;
        line_ += '=';
        line_ += value;
        return *this;
    }
    ResultLine& add(std::string_view key, double value, int decimals = 2) { return add(key, fixed(value, decimals)); }
    ResultLine& add(std::string_view key, std::size_t value) { return add(key, std::to_string(value)); }
    const std::string& str() const { return line_; }

private:
    std::string line_;
};

}  // namespace mdcrypt::bench
