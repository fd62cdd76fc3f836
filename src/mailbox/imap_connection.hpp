// The IMAP wire (RFC 3501, LITERAL+ RFC 7888) over a pair of descriptors: tagged commands out,
// response lines in with their literals. A literal goes into a Spool (memory up to a limit, then an
// unlinked 0600 file), so a message body is never held whole in memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/file_descriptor.hpp"
#include "core/spool.hpp"

namespace mdcrypt {

// One response line from the server: its text with kLiteralMarker where each literal was.
struct ImapLine {
    std::string text;
    std::vector<Spool> literals;
};

// The tagged end of a command: status is "OK", "NO" or "BAD"; text follows it.
struct ImapStatus {
    std::string status;
    std::string text;
    bool ok() const { return status == "OK"; }
};

struct ImapLimits {
    std::size_t max_line_bytes = 1 << 20;           // response text outside literals
    std::size_t max_literals_per_line = 64;
    std::uint64_t max_literal_bytes = 1ULL << 30;  // one message
    std::chrono::seconds timeout{300};              // silence from the server before giving up
};

class ImapConnection {
public:
    ImapConnection(FileDescriptor to_server, FileDescriptor from_server, SpoolSettings spool, ImapLimits limits = {});

    // The first line the server sends (a greeting: "* PREAUTH ...", "* OK ...").
    ImapLine read_greeting();

    using UntaggedHandler = std::function<void(ImapLine&)>;

    // Sends "TAG <command>\r\n" and reads until the tagged response; each untagged line ("* ...",
    // without the "* ") goes to `on_untagged` on the way. Throws ImapProtocolError on a broken
    // stream and std::runtime_error when the server stops answering or goes away.
    ImapStatus command(std::string_view command, const UntaggedHandler& on_untagged = {});

    // A command carrying literals (LITERAL+, no waiting for continuations): for each part,
    // "<text> {size+}\r\n<bytes>"; then "\r\n". MULTIAPPEND sends several parts.
    struct LiteralPart {
        std::string text;  // what precedes the literal, with its leading space if any
        ByteSource* literal;
        std::uint64_t size;
    };
    ImapStatus command_with_literals(std::string_view command, const std::vector<LiteralPart>& parts,
                                     const UntaggedHandler& on_untagged = {});

private:
    ImapLine read_line();
    ImapStatus finish(const std::string& tag, const UntaggedHandler& on_untagged);
    std::string next_tag();
    void write_all(std::string_view bytes);
    bool fill();  // more bytes into buffer_; false at end of stream
    std::string read_raw_line();  // up to CRLF, without it

    FileDescriptor to_server_;
    FileDescriptor from_server_;
    SpoolSettings spool_;
    ImapLimits limits_;
    std::string buffer_;
    std::size_t buffer_pos_ = 0;
    unsigned long tag_counter_ = 0;
};

}  // namespace mdcrypt
