#include "mailbox/imap_connection.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "mailbox/imap_value.hpp"

namespace mdcrypt {

ImapConnection::ImapConnection(FileDescriptor to_server, FileDescriptor from_server, SpoolSettings spool,
                               ImapLimits limits)
    : to_server_(std::move(to_server)), from_server_(std::move(from_server)), spool_(std::move(spool)), limits_(limits) {}

bool ImapConnection::fill() {
    if (buffer_pos_ > 0) {
        buffer_.erase(0, buffer_pos_);
        buffer_pos_ = 0;
    }
    pollfd p{from_server_.get(), POLLIN, 0};
    const auto timeout_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(limits_.timeout).count());
    for (;;) {
        const int r = ::poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) throw std::runtime_error(std::string("IMAP: poll: ") + std::strerror(errno));
        if (r == 0) throw std::runtime_error("IMAP: the server sent nothing for " + std::to_string(limits_.timeout.count()) + " s");
        break;
    }
    char chunk[65536];
    for (;;) {
        const ssize_t n = ::read(from_server_.get(), chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error(std::string("IMAP: read: ") + std::strerror(errno));
        if (n == 0) return false;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }
}

std::string ImapConnection::read_raw_line() {
    std::size_t searched = buffer_pos_;
    for (;;) {
        const auto lf = buffer_.find('\n', searched);
        if (lf != std::string::npos) {
            std::string line = buffer_.substr(buffer_pos_, lf - buffer_pos_);
            buffer_pos_ = lf + 1;
            if (!line.empty() && line.back() == '\r') line.pop_back();
            return line;
        }
        if (buffer_.size() - buffer_pos_ > limits_.max_line_bytes)
            throw ImapProtocolError("IMAP: a response line is longer than " + std::to_string(limits_.max_line_bytes) + " bytes");
        searched = buffer_.size();
        const std::size_t consumed = buffer_pos_;
        if (!fill()) throw std::runtime_error("IMAP: the server closed the connection");
        searched -= consumed;
    }
}

ImapLine ImapConnection::read_line() {
    ImapLine line;
    for (;;) {
        std::string part = read_raw_line();
        if (part.find(kLiteralMarker) != std::string::npos) throw ImapProtocolError("IMAP: NUL in a response line");
        // A literal announcement ends the part: "... {123}".
        std::uint64_t size = 0;
        bool literal = false;
        if (!part.empty() && part.back() == '}') {
            const auto open = part.rfind('{');
            if (open != std::string::npos) {
                size = imap_number(std::string_view(part).substr(open + 1, part.size() - open - 2));
                part.resize(open);
                literal = true;
            }
        }
        line.text += part;
        if (line.text.size() > limits_.max_line_bytes)
            throw ImapProtocolError("IMAP: a response is longer than " + std::to_string(limits_.max_line_bytes) + " bytes outside literals");
        if (!literal) return line;
        if (size > limits_.max_literal_bytes)
            throw ImapProtocolError("IMAP: a literal of " + std::to_string(size) + " bytes is over the limit of " +
                                    std::to_string(limits_.max_literal_bytes));
        if (line.literals.size() >= limits_.max_literals_per_line) throw ImapProtocolError("IMAP: too many literals in one response");
        Spool spool(spool_);
        std::uint64_t left = size;
        while (left > 0) {
            if (buffer_pos_ == buffer_.size() && !fill()) throw std::runtime_error("IMAP: the server closed the connection inside a literal");
            const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(left, buffer_.size() - buffer_pos_));
            spool.write(std::string_view(buffer_).substr(buffer_pos_, take));
            buffer_pos_ += take;
            left -= take;
        }
        line.literals.push_back(std::move(spool));
        line.text.push_back(kLiteralMarker);
    }
}

ImapLine ImapConnection::read_greeting() { return read_line(); }

std::string ImapConnection::next_tag() {
    std::string tag = "m";  // appended, not "m" + ...: GCC 12's -Wrestrict misreads that at -O2
    tag += std::to_string(++tag_counter_);
    return tag;
}

void ImapConnection::write_all(std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(to_server_.get(), bytes.data(), bytes.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error(std::string("IMAP: write: ") + std::strerror(errno));
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

ImapStatus ImapConnection::finish(const std::string& tag, const UntaggedHandler& on_untagged) {
    for (;;) {
        ImapLine line = read_line();
        if (line.text.starts_with("* ")) {
            line.text.erase(0, 2);
            if (on_untagged) on_untagged(line);
            continue;
        }
        if (line.text.starts_with("+")) throw ImapProtocolError("IMAP: unexpected continuation request");
        if (!line.text.starts_with(tag + " ")) throw ImapProtocolError("IMAP: a response for another command: " + line.text.substr(0, 40));
        const std::string rest = line.text.substr(tag.size() + 1);
        const auto space = rest.find(' ');
        ImapStatus status{rest.substr(0, space), space == std::string::npos ? "" : rest.substr(space + 1)};
        if (status.status != "OK" && status.status != "NO" && status.status != "BAD")
            throw ImapProtocolError("IMAP: unknown status '" + status.status.substr(0, 16) + "'");
        return status;
    }
}

ImapStatus ImapConnection::command(std::string_view command, const UntaggedHandler& on_untagged) {
    const std::string tag = next_tag();
    write_all(tag + " " + std::string(command) + "\r\n");
    return finish(tag, on_untagged);
}

ImapStatus ImapConnection::command_with_literals(std::string_view command, const std::vector<LiteralPart>& parts,
                                                 const UntaggedHandler& on_untagged) {
    const std::string tag = next_tag();
    std::string head = tag + " " + std::string(command);
    char chunk[65536];
    for (const LiteralPart& part : parts) {
        write_all(head + part.text + " {" + std::to_string(part.size) + "+}\r\n");
        head.clear();
        std::uint64_t sent = 0;
        for (;;) {
            const std::size_t n = part.literal->read(std::span<char>(chunk, sizeof chunk));
            if (n == 0) break;
            sent += n;
            if (sent > part.size) throw std::logic_error("IMAP literal longer than announced");
            write_all(std::string_view(chunk, n));
        }
        if (sent != part.size) throw std::logic_error("IMAP literal shorter than announced");
    }
    write_all(head + "\r\n");
    return finish(tag, on_untagged);
}

}  // namespace mdcrypt
