// libFuzzer target over everything a sender controls: the input is one whole message, run through the
// Content-Type parser and the pipe filter (header parser, protection detection, RFC 3156 rewrite with a
// fake encryptor). Built with clang by tests/fuzz/run-fuzz; the regression test calls the same function.
//
// Invariants, checked with abort() so libFuzzer keeps the input:
//   - a recipient whose policy says encrypt and who has a key gets the message encrypted, or passed
//     unchanged byte for byte only when detection found it already encrypted (never fail open);
//   - when encrypted, every body byte is inside the encryption, and every header field left outside
//     is unambiguous (line breaks only as CRLF + white space), so no reader can find a body in it;
//   - a required recipient without a key gets a refusal, or the unchanged message if already encrypted;
//   - an invalid Content-Type reads as RFC 2045's text/plain.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/content_type.hpp"
#include "core/edits.hpp"
#include "core/header.hpp"
#include "core/line_ends.hpp"
#include "core/pipe_filter.hpp"
#include "core/processor.hpp"
#include "fake_encryptor.hpp"

using namespace mdcrypt;

namespace {

[[noreturn]] void violated(const char* what) {
    std::fprintf(stderr, "fuzz_message: invariant violated: %s\n", what);
    std::abort();
}

void expect(bool ok, const char* what) {
    if (!ok) violated(what);
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// A field every reader splits alike: a printable name, and CR or LF only as CRLF before white space.
bool unambiguous(const HeaderField& field) {
    if (field.name.empty()) return false;
    for (char c : field.name)
        if (static_cast<unsigned char>(c) <= 32 || static_cast<unsigned char>(c) >= 127 || c == ':') return false;
    const std::string& v = field.raw_value;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\n') return false;  // only reachable through the CR branch below
        if (v[i] != '\r') continue;
        if (i + 2 >= v.size() || v[i + 1] != '\n' || (v[i + 2] != ' ' && v[i + 2] != '\t')) return false;
        i += 1;
    }
    return true;
}

// The mbox "From " line, copied outside as it is: one line, CR only right before its LF.
bool unambiguous_envelope(std::string_view line) {
    if (line.empty()) return true;
    const auto cr = line.find('\r');
    return line.find('\n') == line.size() - 1 && (cr == std::string_view::npos || cr + 2 == line.size());
}

struct Setup {
    Policy policy;
    KeyLookupFn with_key = [](std::string_view, std::int64_t) {
        KeyLookup r;
        r.status = KeyLookup::Status::Found;
        r.key = UsableKey{"AAAABBBBCCCCDDDDEEEEFFFF0000111122223333", 0, "fuzz"};
        return r;
    };
    KeyLookupFn without_key = [](std::string_view, std::int64_t) {
        KeyLookup r;
        r.reason = "no key";
        return r;
    };
    SpoolSettings spool{std::filesystem::temp_directory_path(), 1 << 20};
    BoundaryGenerator boundaries = [] { return std::string("fuzz.boundary_1"); };
    std::vector<std::string> recipients{"<user@example.test>"};

    Setup() { policy.domains["example.test"] = DomainPolicy{Mode::Required}; }
};

const Setup& setup() {
    static const Setup s;
    return s;
}

FilterReport filter(const std::string& input, const KeyLookupFn& lookup, Encryptor& encryptor, std::string& written) {
    const Setup& s = setup();
    const ProcessContext context{s.policy, lookup, encryptor, s.spool, s.boundaries, 0};
    StringSource in(input);
    StringSink out(written);
    return run_pipe_filter(context, s.recipients, in, out);
}

void check_content_type(const std::string& input) {
    const ContentType ct = parse_content_type(input);
    expect(ct.params.size() <= kMaxContentTypeParams, "more Content-Type parameters than the limit");
    if (!ct.valid) expect(ct.type == "text" && ct.subtype == "plain", "an invalid Content-Type is not text/plain");
}

void check_must_encrypt(const std::string& input) {
    testing::FakeEncryptor encryptor;
    std::string written;
    const FilterReport report = filter(input, setup().with_key, encryptor, written);
    if (input.empty()) {
        expect(report.exit == FilterExit::DataError && written.empty(), "an empty input is not refused");
        return;
    }
    expect(report.exit == FilterExit::Ok, "a message for a recipient with a key is not delivered");
    const ProcessResult& result = report.result;
    switch (result.decision.action) {
        case MessageDecision::Action::Pass:
            expect(result.protection && result.protection->is_protected(), "passed without being already encrypted");
            expect(written == input, "an already encrypted message is not delivered byte for byte");
            expect(encryptor.calls == 0, "an already encrypted message was encrypted");
            return;
        case MessageDecision::Action::Encrypt: {
            const ParsedHeader parsed = parse_header_block(input);
            const std::string body = to_crlf(std::string_view(input).substr(parsed.body_offset));
            expect(ends_with(encryptor.last_plaintext, body), "body bytes are missing from the encrypted entity");
            expect(result.encrypted.has_value(), "an Encrypt decision without an encrypted message");
            for (const auto& field : apply_header_edits(parsed.fields, result.encrypted->header_edits))
                expect(unambiguous(field), "a header field left outside could hide a body");
            expect(unambiguous_envelope(parsed.envelope_line), "the envelope line copied outside could hide a body");
            expect(written.find("-----BEGIN PGP MESSAGE-----") != std::string::npos, "no ciphertext in the output");
            return;
        }
        case MessageDecision::Action::Defer:
        case MessageDecision::Action::Reject:
            break;
    }
    violated("a must-encrypt message was neither encrypted nor passed as already encrypted");
}

void check_required_without_key(const std::string& input) {
    if (input.empty()) return;
    testing::FakeEncryptor encryptor;
    std::string written;
    const FilterReport report = filter(input, setup().without_key, encryptor, written);
    const auto action = report.result.decision.action;
    if (action == MessageDecision::Action::Pass) {
        expect(report.result.protection && report.result.protection->is_protected(),
               "passed for a required recipient without a key");
        expect(written == input, "an already encrypted message is not delivered byte for byte");
    } else {
        expect(action == MessageDecision::Action::Reject && written.empty(), "a required recipient without a key is not refused");
    }
    expect(encryptor.calls == 0, "encrypted for a recipient without a key");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    check_content_type(input);
    check_must_encrypt(input);
    check_required_without_key(input);
    return 0;
}
