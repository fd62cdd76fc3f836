#include "core/content_type.hpp"

#include <algorithm>

#include "core/header.hpp"
#include "core/text.hpp"
#include "core/transfer_encoding.hpp"

namespace mdcrypt {

namespace {

bool is_tspecial(char c) { return std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos; }

// RFC 2045 token: printable US-ASCII except SPACE and tspecials.
bool is_token_char(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 32 && u < 127 && !is_tspecial(c);
}

// CR and LF count as white space so that a value that was not unfolded reads the same.
bool is_fws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// RFC 2231 %XX decoding. A '%' not followed by two hex digits is kept as it is: the meaning is clear
// and rejecting the whole field for it would gain nothing.
std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            const int hi = hex_value(s[i + 1]);
            const int lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(s[i]);
    }
    return out;
}

// Reads the lexical pieces of a structured field value: tokens, quoted strings, specials, and the
// white space and comments allowed between them.
class Lexer {
public:
    explicit Lexer(std::string_view input) : in_(input) {}

    bool at_end() const { return pos_ >= in_.size(); }
    char peek() const { return at_end() ? '\0' : in_[pos_]; }

    bool consume(char c) {
        if (at_end() || in_[pos_] != c) return false;
        ++pos_;
        return true;
    }

    // Skips white space and comments. False on an unterminated comment, one nested deeper than the
    // limit, or a NUL inside one. Depth is a counter, so hostile nesting costs no stack.
    bool skip_cfws() {
        while (!at_end()) {
            if (is_fws(in_[pos_])) {
                ++pos_;
                continue;
            }
            if (in_[pos_] != '(') return true;
            int depth = 0;
            do {
                if (at_end()) return false;
                const char c = in_[pos_++];
                if (c == '\0') return false;
                if (c == '\\') {
                    if (at_end() || in_[pos_] == '\0') return false;
                    ++pos_;
                } else if (c == '(') {
                    if (++depth > kMaxContentTypeCommentDepth) return false;
                } else if (c == ')') {
                    --depth;
                }
            } while (depth > 0);
        }
        return true;
    }

    // False when there is no token here or it is longer than a value may be.
    bool token(std::string_view& out) {
        const std::size_t start = pos_;
        while (!at_end() && is_token_char(in_[pos_])) ++pos_;
        out = in_.substr(start, pos_ - start);
        return !out.empty() && out.size() <= kMaxContentTypeValueBytes;
    }

    // At a '"': appends the unquoted content. False when unterminated, too long or holding a NUL.
    bool quoted_string(std::string& out) {
        ++pos_;
        while (!at_end()) {
            char c = in_[pos_++];
            if (c == '"') return true;
            if (c == '\r' || c == '\n') continue;  // folding left in the value: unfold
            if (c == '\\') {
                if (at_end()) return false;
                c = in_[pos_++];
            }
            if (c == '\0' || out.size() >= kMaxContentTypeValueBytes) return false;
            out.push_back(c);
        }
        return false;
    }

private:
    std::string_view in_;
    std::size_t pos_ = 0;
};

// One name=value as written. RFC 2231 names like "title*1*" are split into name, section, extended.
struct Segment {
    std::string written;  // lower-cased, as written
    std::string name;
    std::size_t section = kNoSection;
    bool extended = false;
    std::string value;

    static constexpr std::size_t kNoSection = static_cast<std::size_t>(-1);
};

// RFC 2231 section := "0" / non-zero digit *DIGIT. Saturates at kMaxContentTypeParams, a number no
// joinable set can reach, so huge numbers neither overflow nor match.
std::optional<std::size_t> section_number(std::string_view digits) {
    if (digits.empty() || (digits.size() > 1 && digits.front() == '0')) return std::nullopt;
    std::size_t n = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        n = std::min(n * 10 + static_cast<std::size_t>(c - '0'), kMaxContentTypeParams);
    }
    return n;
}

Segment make_segment(std::string_view attribute, std::string value) {
    Segment seg;
    seg.written = to_lower_ascii(attribute);
    seg.name = seg.written;
    seg.value = std::move(value);
    std::string_view base = seg.name;
    bool extended = false;
    std::size_t section = Segment::kNoSection;
    if (base.back() == '*') {
        extended = true;
        base.remove_suffix(1);
    }
    if (const auto star = base.rfind('*'); star != std::string_view::npos) {
        if (const auto n = section_number(base.substr(star + 1))) {
            section = *n;
            base = base.substr(0, star);
        }
    }
    // RFC 2231 attribute-char excludes '*', '\'' and '%': a name that still holds one is not in its
    // syntax, so the whole token is an ordinary parameter name.
    if (base.empty() || base.find_first_of("*'%") != std::string_view::npos) return seg;
    seg.name = std::string(base);
    seg.extended = extended;
    seg.section = section;
    return seg;
}

// RFC 2231 initial extended value: charset'language'percent-encoded. Without both quotes the whole
// value is percent-encoded text of unknown charset.
std::string decode_initial(std::string_view raw, ExtendedParamInfo& info) {
    const auto q1 = raw.find('\'');
    const auto q2 = q1 == std::string_view::npos ? q1 : raw.find('\'', q1 + 1);
    if (q2 == std::string_view::npos) return percent_decode(raw);
    info.charset = to_lower_ascii(raw.substr(0, q1));
    info.language = std::string(raw.substr(q1 + 1, q2 - q1 - 1));
    return percent_decode(raw.substr(q2 + 1));
}

const Segment* find_segment(const std::vector<Segment>& segments, std::string_view name, std::size_t section) {
    for (const auto& seg : segments)
        if (seg.section == section && seg.name == name) return &seg;
    return nullptr;
}

// Turns segments into parameters: first form of each name wins, continuations joined in number order.
bool resolve_parameters(const std::vector<Segment>& segments, MimeParameters& ct) {
    std::vector<std::string_view> seen;
    for (const auto& first : segments) {
        if (std::find(seen.begin(), seen.end(), first.name) != seen.end()) continue;
        seen.push_back(first.name);

        ExtendedParamInfo info{first.name, {}, {}};
        bool has_info = false;
        std::string value;
        if (first.section == Segment::kNoSection) {
            if (first.extended) {
                value = decode_initial(first.value, info);
                has_info = true;
            } else {
                value = first.value;
            }
        } else {
            std::size_t n = 0;
            for (; n < kMaxContentTypeParams; ++n) {
                const Segment* seg = find_segment(segments, first.name, n);
                if (seg == nullptr) break;
                if (!seg->extended) {
                    value += seg->value;
                } else if (n == 0) {
                    value = decode_initial(seg->value, info);
                    has_info = true;
                } else {
                    value += percent_decode(seg->value);
                }
            }
            if (n == 0) continue;  // no segment 0: nothing to start the value with
        }
        if (value.size() > kMaxContentTypeValueBytes) return false;
        if (value.find('\0') != std::string::npos) return false;  // %00: a NUL is never a usable value
        ct.params.emplace_back(first.name, std::move(value));
        if (has_info) ct.extended.push_back(std::move(info));
    }
    return true;
}

// The parameter list after the leading token(s): "; name=value" repeated, to the end of the input.
bool parse_parameters(Lexer& lex, MimeParameters& out) {
    std::vector<Segment> segments;
    for (;;) {
        if (!lex.skip_cfws()) return false;
        if (lex.at_end()) break;
        if (!lex.consume(';') || !lex.skip_cfws()) return false;
        if (lex.at_end() || lex.peek() == ';') continue;  // ";;" or a trailing ';': nothing in between
        if (segments.size() >= kMaxContentTypeParams) return false;

        std::string_view attribute;
        if (!lex.token(attribute) || !lex.skip_cfws() || !lex.consume('=') || !lex.skip_cfws()) return false;
        std::string value;
        if (lex.peek() == '"') {
            if (!lex.quoted_string(value)) return false;
        } else {
            std::string_view token;
            if (!lex.token(token)) return false;
            value = std::string(token);
        }
        segments.push_back(make_segment(attribute, std::move(value)));
    }
    if (!resolve_parameters(segments, out)) return false;
    for (const auto& seg : segments) out.written_names.push_back(seg.written);
    return true;
}

std::optional<ContentType> parse_strict(std::string_view input) {
    Lexer lex(input);
    std::string_view type;
    std::string_view subtype;
    if (!lex.skip_cfws() || !lex.token(type) || !lex.skip_cfws() || !lex.consume('/') || !lex.skip_cfws() ||
        !lex.token(subtype))
        return std::nullopt;
    ContentType ct;
    if (!parse_parameters(lex, ct)) return std::nullopt;
    ct.type = to_lower_ascii(type);
    ct.subtype = to_lower_ascii(subtype);
    ct.valid = true;
    return ct;
}

}  // namespace

std::optional<std::string> MimeParameters::param(std::string_view name) const {
    for (const auto& [key, value] : params)
        if (iequals(key, name)) return value;
    return std::nullopt;
}

std::size_t MimeParameters::param_count(std::string_view name) const {
    return static_cast<std::size_t>(std::count_if(written_names.begin(), written_names.end(), [&](const std::string& w) {
        return iequals(w, name) ||
               (w.size() > name.size() && w[name.size()] == '*' && iequals(std::string_view(w).substr(0, name.size()), name));
    }));
}

bool ContentType::is_multipart() const { return type == "multipart"; }

ContentType parse_content_type(std::string_view unfolded_value) {
    if (auto ct = parse_strict(unfolded_value)) return std::move(*ct);
    ContentType fallback;  // RFC 2045 section 5.2
    fallback.type = "text";
    fallback.subtype = "plain";
    fallback.params = {{"charset", "us-ascii"}};
    fallback.written_names = {"charset"};
    fallback.valid = false;
    return fallback;
}

ContentDisposition parse_content_disposition(std::string_view unfolded_value) {
    Lexer lex(unfolded_value);
    std::string_view type;
    ContentDisposition cd;
    if (!lex.skip_cfws() || !lex.token(type) || !parse_parameters(lex, cd)) return {};
    cd.type = to_lower_ascii(type);
    cd.valid = true;
    return cd;
}

std::size_t count_mentions(std::string_view value, std::string_view word) {
    if (word.empty() || value.size() < word.size()) return 0;
    std::size_t count = 0;
    for (std::size_t at = 0; at + word.size() <= value.size(); ++at)
        if (iequals(value.substr(at, word.size()), word)) ++count;
    return count;
}

}  // namespace mdcrypt
