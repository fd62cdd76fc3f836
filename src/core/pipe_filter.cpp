#include "core/pipe_filter.hpp"

#include <algorithm>
#include <array>

#include "core/edits.hpp"
#include "core/header.hpp"
#include "core/line_ends.hpp"
#include "core/log_line.hpp"
#include "core/spool.hpp"

namespace mdcrypt {

namespace {

// Skips the first `count` bytes of another source.
class SkipSource final : public ByteSource {
public:
    SkipSource(ByteSource& inner, std::uint64_t count) : inner_(inner), remaining_(count) {}
    std::size_t read(std::span<char> out) override {
        std::array<char, 16 * 1024> scratch{};
        while (remaining_ > 0) {
            const std::size_t n = inner_.read(std::span<char>(scratch.data(), std::min<std::uint64_t>(scratch.size(), remaining_)));
            if (n == 0) return 0;
            remaining_ -= n;
        }
        return inner_.read(out);
    }

private:
    ByteSource& inner_;
    std::uint64_t remaining_;
};

// Counts what passes through.
class CountingSink final : public ByteSink {
public:
    explicit CountingSink(ByteSink& inner) : inner_(inner) {}
    void write(std::string_view bytes) override {
        inner_.write(bytes);
        count += bytes.size();
    }
    std::uint64_t count = 0;

private:
    ByteSink& inner_;
};

}  // namespace

FilterReport run_pipe_filter(const ProcessContext& context, std::span<const std::string> recipients, ByteSource& in,
                             ByteSink& out) {
    FilterReport report;
    Spool raw(context.spool);
    report.bytes_in = copy_all(in, raw);
    if (report.bytes_in == 0) {
        report.exit = FilterExit::DataError;
        report.error = "empty message on input";
        return report;
    }

    // The header block is bounded (kMaxHeaderBlockBytes); +4 lets the parser see the line end after it.
    auto head_reader = raw.reader();
    const std::string head = read_prefix(*head_reader, kMaxHeaderBlockBytes + 4);
    const ParsedHeader parsed = parse_header_block(head);

    std::vector<RecipientDecision> decisions;
    for (const auto& r : recipients)
        decisions.push_back(classify_envelope_recipient(context.policy, r, context.lookup, context.now));

    auto body_reader = raw.reader();
    SkipSource body(*body_reader, parsed.body_offset);
    CrlfSource body_crlf(body);
    report.result = process_message(context, parsed.fields, body_crlf, decisions);

    CountingSink counted(out);
    switch (report.result.decision.action) {
        case MessageDecision::Action::Pass: {
            auto original = raw.reader();
            copy_all(*original, counted);
            report.exit = FilterExit::Ok;
            break;
        }
        case MessageDecision::Action::Encrypt: {
            const EncryptedMessage& encrypted = *report.result.encrypted;
            counted.write(parsed.envelope_line);
            LfSink lf(counted);
            ByteSink& sink = parsed.lf_line_ends ? static_cast<ByteSink&>(lf) : counted;
            for (const auto& field : apply_header_edits(parsed.fields, encrypted.header_edits)) sink.write(serialize_field(field));
            sink.write("\r\n");
            auto new_body = encrypted.body->reader();
            copy_all(*new_body, sink);
            lf.flush();
            report.exit = FilterExit::Ok;
            break;
        }
        case MessageDecision::Action::Defer:
            report.exit = FilterExit::TempFail;
            break;
        case MessageDecision::Action::Reject:
            report.exit = FilterExit::NoPermission;
            break;
    }
    report.bytes_out = counted.count;
    return report;
}

std::string describe(const FilterReport& report, long long milliseconds) {
    // Without a decision the exit says what happened: 75 defers, 65 (unusable input) rejects.
    std::string_view verdict = log_word(report.result.decision.action);
    if (!report.error.empty())
        verdict = log_word(report.exit == FilterExit::TempFail ? MessageDecision::Action::Defer : MessageDecision::Action::Reject);
    LogLine line;
    line.add("verdict", verdict).add("exit", static_cast<std::uint64_t>(report.exit));
    line.add("recipients", static_cast<std::uint64_t>(report.result.recipients.size()));
    for (const auto& r : report.result.recipients) line.add("rcpt", "<" + r.address + ">").add("class", log_word(r.cls));
    line.add_list("keys", report.result.decision.action == MessageDecision::Action::Encrypt
                              ? std::span<const std::string>(report.result.decision.fingerprints)
                              : std::span<const std::string>());
    line.add("size_in", report.bytes_in).add("size_out", report.bytes_out);
    line.add("ms", static_cast<std::uint64_t>(milliseconds < 0 ? 0 : milliseconds));
    line.add("reason", report.error.empty() ? report.result.decision.reason : report.error);
    return line.str();
}

std::string describe_failure(std::string_view what, long long milliseconds) {
    LogLine line;
    line.add("verdict", log_word(MessageDecision::Action::Defer))
        .add("exit", static_cast<std::uint64_t>(FilterExit::TempFail))
        .add("ms", static_cast<std::uint64_t>(milliseconds < 0 ? 0 : milliseconds))
        .add("reason", std::string("temporary failure: ") + std::string(what));
    return line.str();
}

}  // namespace mdcrypt
