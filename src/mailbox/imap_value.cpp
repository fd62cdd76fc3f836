#include "mailbox/imap_value.hpp"

#include <charconv>

#include "core/text.hpp"

namespace mdcrypt {

namespace {

constexpr int kMaxDepth = 16;

bool is_atom_char(char c) {
    return c != ' ' && c != '(' && c != ')' && c != '"' && c != kLiteralMarker && c != '\r' && c != '\n';
}

class Parser {
public:
    explicit Parser(std::string_view text) : text_(text) {}

    std::vector<ImapValue> values_until_end() {
        std::vector<ImapValue> out = sequence(0);
        if (pos_ != text_.size()) fail("unexpected ')'");
        return out;
    }

private:
    std::vector<ImapValue> sequence(int depth) {
        std::vector<ImapValue> out;
        while (pos_ < text_.size() && text_[pos_] != ')') {
            if (!out.empty()) {
                if (text_[pos_] != ' ') fail("values not separated by a space");
                ++pos_;
                if (pos_ == text_.size() || text_[pos_] == ')') break;  // a trailing space is tolerated
            }
            out.push_back(value(depth));
        }
        return out;
    }

    ImapValue value(int depth) {
        ImapValue v;
        const char c = text_[pos_];
        if (c == '(') {
            if (depth >= kMaxDepth) fail("lists nested too deeply");
            ++pos_;
            v.kind = ImapValue::Kind::List;
            v.items = sequence(depth + 1);
            if (pos_ == text_.size()) fail("unterminated list");
            ++pos_;  // ')'
        } else if (c == '"') {
            v.kind = ImapValue::Kind::String;
            ++pos_;
            for (;;) {
                if (pos_ == text_.size()) fail("unterminated quoted string");
                const char s = text_[pos_++];
                if (s == '"') break;
                if (s == '\\') {
                    if (pos_ == text_.size()) fail("unterminated quoted string");
                    v.text.push_back(text_[pos_++]);
                } else {
                    v.text.push_back(s);
                }
            }
        } else if (c == kLiteralMarker) {
            v.kind = ImapValue::Kind::Literal;
            v.literal = literals_++;
            ++pos_;
        } else {
            const std::size_t start = pos_;
            // Atoms may carry a bracketed section with spaces inside: BODY[HEADER.FIELDS (A B)].
            int brackets = 0;
            while (pos_ < text_.size() && (is_atom_char(text_[pos_]) || (brackets > 0 && text_[pos_] != kLiteralMarker))) {
                if (text_[pos_] == '[') ++brackets;
                else if (text_[pos_] == ']' && brackets > 0) --brackets;
                ++pos_;
            }
            if (pos_ == start) fail("empty atom");
            v.text = std::string(text_.substr(start, pos_ - start));
            v.kind = iequals(v.text, "NIL") ? ImapValue::Kind::Nil : ImapValue::Kind::Atom;
        }
        return v;
    }

    [[noreturn]] void fail(const std::string& what) const {
        throw ImapProtocolError("IMAP response: " + what + " at byte " + std::to_string(pos_));
    }

    std::string_view text_;
    std::size_t pos_ = 0;
    std::size_t literals_ = 0;
};

}  // namespace

bool ImapValue::is_atom(std::string_view name) const { return kind == Kind::Atom && iequals(text, name); }

std::vector<ImapValue> parse_imap_values(std::string_view text) { return Parser(text).values_until_end(); }

std::uint64_t imap_number(std::string_view text, std::uint64_t max) {
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || n > max)
        throw ImapProtocolError("IMAP response: '" + std::string(text.substr(0, 24)) + "' is not a number");
    return n;
}

FetchItems read_fetch_items(const ImapValue& list) {
    if (list.kind != ImapValue::Kind::List || list.items.size() % 2 != 0)
        throw ImapProtocolError("IMAP response: FETCH data is not a list of name/value pairs");
    FetchItems out;
    for (std::size_t i = 0; i < list.items.size(); i += 2) {
        const ImapValue& name = list.items[i];
        const ImapValue& value = list.items[i + 1];
        const auto want_atom = [&] {
            if (value.kind != ImapValue::Kind::Atom) throw ImapProtocolError("IMAP response: FETCH " + name.text + " is not a number");
            return std::string_view(value.text);
        };
        if (name.is_atom("UID")) {
            out.uid = static_cast<std::uint32_t>(imap_number(want_atom(), UINT32_MAX));
        } else if (name.is_atom("RFC822.SIZE")) {
            out.size = imap_number(want_atom());
        } else if (name.is_atom("FLAGS")) {
            if (value.kind != ImapValue::Kind::List) throw ImapProtocolError("IMAP response: FETCH FLAGS is not a list");
            std::vector<std::string> flags;
            for (const auto& f : value.items) {
                if (f.kind != ImapValue::Kind::Atom) throw ImapProtocolError("IMAP response: a flag is not an atom");
                flags.push_back(f.text);
            }
            out.flags = std::move(flags);
        } else if (name.is_atom("INTERNALDATE")) {
            if (value.kind != ImapValue::Kind::String) throw ImapProtocolError("IMAP response: INTERNALDATE is not a string");
            out.internal_date = value.text;
        } else if (name.is_atom("MODSEQ")) {
            if (value.kind != ImapValue::Kind::List || value.items.size() != 1 || value.items[0].kind != ImapValue::Kind::Atom)
                throw ImapProtocolError("IMAP response: MODSEQ is not (number)");
            out.modseq = imap_number(value.items[0].text);
        } else if (name.is_atom("BODY[]")) {
            if (value.kind == ImapValue::Kind::Literal) out.body_literal = value.literal;
            else if (value.kind == ImapValue::Kind::Nil) out.body_nil = true;
            else throw ImapProtocolError("IMAP response: BODY[] is not a literal");
        }
        // Other items (unsolicited ones included) are not ours to read.
    }
    return out;
}

std::string imap_uid_set(const std::vector<std::uint32_t>& uids) {
    std::string out;
    for (std::size_t i = 0; i < uids.size();) {
        std::size_t j = i;
        while (j + 1 < uids.size() && uids[j + 1] == uids[j] + 1) ++j;
        if (!out.empty()) out += ',';
        out += std::to_string(uids[i]);
        if (j > i) out += ':' + std::to_string(uids[j]);
        i = j + 1;
    }
    return out;
}

std::vector<std::uint32_t> parse_uid_set(std::string_view text, std::size_t max_count) {
    std::vector<std::uint32_t> out;
    while (!text.empty()) {
        const auto comma = text.find(',');
        const std::string_view range = text.substr(0, comma);
        const auto colon = range.find(':');
        auto first = static_cast<std::uint32_t>(imap_number(range.substr(0, colon), UINT32_MAX));
        auto last = colon == std::string_view::npos ? first : static_cast<std::uint32_t>(imap_number(range.substr(colon + 1), UINT32_MAX));
        if (first > last) std::swap(first, last);
        if (last - first >= max_count || out.size() + (last - first) + 1 > max_count)
            throw ImapProtocolError("IMAP response: a UID set of more than " + std::to_string(max_count) + " UIDs");
        for (std::uint64_t uid = first; uid <= last; ++uid) out.push_back(static_cast<std::uint32_t>(uid));
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return out;
}

std::string imap_quoted(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '\r' || c == '\n' || c == '\0') throw std::invalid_argument("CR, LF or NUL in an IMAP quoted string");
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
    return out;
}

std::string_view response_code(std::string_view text) {
    if (text.empty() || text.front() != '[') return {};
    const auto close = text.find(']');
    if (close == std::string_view::npos) return {};
    return text.substr(1, close - 1);
}

}  // namespace mdcrypt
