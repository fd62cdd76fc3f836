// milter_load: a load driver that plays the MTA's side of the milter protocol (version 6, as Postfix
// speaks it) against a running mdcrypt-milter over its unix socket, and measures messages per second and
// per-message latency.
//
// Per message: SMFIC_MACRO (queue id `i`) + SMFIC_MAIL, SMFIC_RCPT for each recipient, SMFIC_HEADER for
// each header field, SMFIC_EOH, SMFIC_BODY in chunks of 65535 bytes (MILTER_CHUNK_SIZE, what Postfix
// sends), SMFIC_MACRO + SMFIC_BODYEOB, then every reply up to the final one. Replacement body chunks
// (SMFIR_REPLBODY) are counted, and the new body must start with the PGP/MIME preamble: a milter that
// silently passed the message makes the run fail loudly (exit status 1, errors > 0).
//
// Each thread has its own connection; a connection carries up to --per-connection messages (0: all),
// then is closed with SMFIC_QUIT and reopened with a new SMFIC_OPTNEG. Protocol steps the milter
// negotiated away (SMFIP_NO*) are not sent and steps it asked not to answer (SMFIP_NR_*) are not waited
// for, as an MTA does.
//
// Output: one line "RESULT bench=milter_load key=value ..." and one line for people.
#include <libmilter/mfdef.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <mutex>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"

using namespace mdcrypt::bench;

namespace {

constexpr std::uint32_t kProtocolVersion = 6;
// What Postfix 3.7 offers with milter_protocol = 6: every action, every step and no-reply flag, SKIP and
// HDR_LEADSPC. The milter picks what it wants out of these.
constexpr std::uint32_t kOfferedActions = 0x1FF;
constexpr std::uint32_t kOfferedProtocol = 0x1FFFFF;
// Action flags (mfapi.h's SMFIF_CHGBODY and SMFIF_CHGHDRS; mfapi.h is the milter's side of the API).
constexpr std::uint32_t kChangeBody = 0x02;
constexpr std::uint32_t kChangeHeaders = 0x10;
constexpr std::size_t kBodyChunk = MILTER_CHUNK_SIZE;  // 65535: the largest SMFIC_BODY libmilter takes by default
constexpr std::string_view kPreamble = "This is an OpenPGP/MIME encrypted message";

struct Options : LoadShape {
    std::string socket_path;
    std::vector<std::string> recipients;
    std::string sender = "<sender@example.net>";
    std::size_t per_connection = 0;  // 0: one connection per thread for the whole run
    double timeout = 120;            // seconds, per socket read or write
    bool expect_encrypt = true;
};

[[noreturn]] void usage(const std::string& error) {
    if (!error.empty()) std::cerr << "milter_load: " << error << "\n";
    std::cerr << "Usage: milter_load --socket [unix:]PATH (--messages M | --seconds S) [options]\n"
                 "  --concurrency N      threads, each with its own connection (default 1)\n"
                 "  --messages M         measured messages in total, after warm-up\n"
                 "  --seconds S          or: send for S seconds\n"
                 "  --size BYTES         body size, e.g. 10240, 10K, 1M (default 10K)\n"
                 "  --binary             body is base64 of random bytes (an attachment), not text\n"
                 "  --rcpt ADDRESS       envelope recipient (repeatable; default alice@example.test)\n"
                 "  --from ADDRESS       envelope sender (default sender@example.net)\n"
                 "  --per-connection K   messages per connection before reconnecting (0: all; default 0)\n"
                 "  --warmup W           unmeasured messages per thread first (default 1)\n"
                 "  --variants V         distinct bodies, sent in turn (default 4)\n"
                 "  --seed N             body generator seed (default 1; same bodies as gpgme_raw)\n"
                 "  --expect encrypt|pass  what the milter must do with each message (default encrypt)\n"
                 "  --timeout S          per read/write on the socket (default 120)\n"
                 "  --label TEXT         copied into the RESULT line\n";
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    auto value = [&](int& i) -> std::string {
        if (i + 1 >= argc) usage(std::string(argv[i]) + " needs a value");
        return argv[++i];
    };
    try {
        for (int i = 1; i < argc; ++i) {
            const std::string_view a = argv[i];
            if (parse_load_option(a, [&] { return value(i); }, o)) continue;
            if (a == "--socket") o.socket_path = value(i);
            else if (a == "--rcpt") o.recipients.push_back(value(i));
            else if (a == "--from") o.sender = value(i);
            else if (a == "--per-connection") o.per_connection = parse_size(value(i));
            else if (a == "--timeout") o.timeout = parse_number(value(i));
            else if (a == "--expect") {
                const std::string e = value(i);
                if (e != "encrypt" && e != "pass") usage("--expect takes encrypt or pass");
                o.expect_encrypt = e == "encrypt";
            } else if (a == "--help" || a == "-h") usage("");
            else usage("unknown argument '" + std::string(a) + "'");
        }
    } catch (const std::invalid_argument& e) {
        usage(e.what());
    }
    if (o.socket_path.starts_with("unix:")) o.socket_path.erase(0, 5);
    else if (o.socket_path.starts_with("local:")) o.socket_path.erase(0, 6);
    if (o.socket_path.empty()) usage("--socket is required");
    if (const std::string error = check_load_shape(o); !error.empty()) usage(error);
    if (o.recipients.empty()) o.recipients.push_back("alice@example.test");
    for (auto& r : o.recipients)
        if (!r.starts_with("<")) r = "<" + r + ">";
    if (!o.sender.starts_with("<")) o.sender = "<" + o.sender + ">";
    return o;
}

class ProtocolError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// One milter connection: framing of commands (4-byte length, command byte, data) and replies.
class Connection {
public:
    Connection(const std::string& path, double timeout_seconds) {
        fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw ProtocolError(errno_text("socket"));
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(timeout_seconds);
        tv.tv_usec = static_cast<suseconds_t>((timeout_seconds - static_cast<double>(tv.tv_sec)) * 1e6);
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        if (path.size() >= sizeof addr.sun_path) throw ProtocolError("socket path too long: " + path);
        std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            const std::string error = errno_text(("connect " + path).c_str());
            ::close(fd_);
            throw ProtocolError(error);
        }
        buffer_.resize(256 * 1024);
    }
    ~Connection() { ::close(fd_); }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    void send(char command, std::string_view data) { send(command, data, {}); }

    // Sends one command whose data is `a` followed by `b` (saves copying a body chunk).
    void send(char command, std::string_view a, std::string_view b) {
        const std::uint32_t length = htonl(static_cast<std::uint32_t>(1 + a.size() + b.size()));
        char head[5];
        std::memcpy(head, &length, 4);
        head[4] = command;
        iovec parts[3] = {{head, 5}, {const_cast<char*>(a.data()), a.size()}, {const_cast<char*>(b.data()), b.size()}};
        std::size_t total = 5 + a.size() + b.size();
        int first = 0;
        while (total > 0) {
            const ssize_t n = ::writev(fd_, parts + first, 3 - first);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw ProtocolError(errno_text("write to milter"));
            }
            auto left = static_cast<std::size_t>(n);
            total -= left;
            while (first < 3 && left >= parts[first].iov_len) left -= parts[first++].iov_len;
            if (first < 3) {
                parts[first].iov_base = static_cast<char*>(parts[first].iov_base) + left;
                parts[first].iov_len -= left;
            }
        }
    }

    struct Reply {
        char command = 0;
        std::string_view data;  // valid until the next receive()
    };

    Reply receive() {
        std::uint32_t length = 0;
        fill(4);
        std::memcpy(&length, buffer_.data() + start_, 4);
        length = ntohl(length);
        if (length == 0 || length > 64 * 1024 * 1024) throw ProtocolError("bad reply length " + std::to_string(length));
        fill(4 + length);
        Reply r{buffer_[start_ + 4], std::string_view(buffer_.data() + start_ + 5, length - 1)};
        start_ += 4 + length;
        return r;
    }

    // The next reply that is not SMFIR_PROGRESS.
    Reply answer() {
        for (;;) {
            Reply r = receive();
            if (r.command != SMFIR_PROGRESS) return r;
        }
    }

private:
    void fill(std::size_t need) {
        if (end_ - start_ >= need) return;
        if (start_ > 0) {  // move what is left to the front
            std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
            end_ -= start_;
            start_ = 0;
        }
        if (buffer_.size() < need) buffer_.resize(need);
        while (end_ < need) {
            const ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw ProtocolError(errno == EAGAIN ? "timed out waiting for the milter" : errno_text("read from milter"));
            }
            if (n == 0) throw ProtocolError("the milter closed the connection");
            end_ += static_cast<std::size_t>(n);
        }
    }

    int fd_ = -1;
    std::vector<char> buffer_;
    std::size_t start_ = 0;
    std::size_t end_ = 0;
};

std::string be32(std::uint32_t v) {
    const std::uint32_t n = htonl(v);
    return std::string(reinterpret_cast<const char*>(&n), 4);
}

std::uint32_t read_be32(std::string_view data) {
    if (data.size() < 4) throw ProtocolError("short reply");
    std::uint32_t n = 0;
    std::memcpy(&n, data.data(), 4);
    return ntohl(n);
}

std::string describe(const Connection::Reply& r) {
    std::string text;
    for (char c : r.data.substr(0, 120)) text += (c >= 0x20 && c < 0x7f) ? c : ' ';
    return std::string("'") + r.command + "' " + text;
}

struct Outcome {
    double latency_ms = 0;  // first command of the message to the final reply
    double eom_ms = 0;      // SMFIC_BODYEOB to the final reply: encryption and the new body
    std::size_t replbody_bytes = 0;
};

class Session {
public:
    Session(const Options& options, unsigned thread) : options_(options), thread_(thread) {}

    Outcome send_message(const std::string& body, std::size_t sequence) {
        if (!connection_ || (options_.per_connection != 0 && on_connection_ >= options_.per_connection)) reconnect();
        ++on_connection_;
        const std::string queue_id = "B" + std::to_string(thread_) + "Q" + std::to_string(sequence);
        const std::string message_id = "<bench." + std::to_string(thread_) + "." + std::to_string(sequence) + "@example.net>";
        Outcome out;
        const auto start = Clock::now();
        try {
            run_transaction(body, queue_id, message_id, out);
        } catch (...) {
            connection_.reset();  // state unknown: the next message opens a new connection
            throw;
        }
        out.latency_ms = ms_between(start, Clock::now());
        return out;
    }

    void quit() {
        if (connection_) {
            try {
                connection_->send(SMFIC_QUIT, "");
            } catch (const ProtocolError&) {
            }
            connection_.reset();
        }
    }

private:
    void reconnect() {
        quit();
        connection_ = std::make_unique<Connection>(options_.socket_path, options_.timeout);
        on_connection_ = 0;
        connection_->send(SMFIC_OPTNEG, be32(kProtocolVersion) + be32(kOfferedActions) + be32(kOfferedProtocol));
        const auto r = connection_->receive();
        if (r.command != SMFIC_OPTNEG || r.data.size() < 12) throw ProtocolError("negotiation answered " + describe(r));
        actions_ = read_be32(r.data.substr(4));
        protocol_ = read_be32(r.data.substr(8));
        if (options_.expect_encrypt && (actions_ & (kChangeBody | kChangeHeaders)) != (kChangeBody | kChangeHeaders))
            throw ProtocolError("the milter did not ask to change headers and the body");
        // Steps the milter did not negotiate away: sent as an MTA would (an MTA sends them per connection).
        if (!(protocol_ & SMFIP_NOCONNECT)) {
            std::string data = "localhost";
            data += '\0';
            data += SMFIA_UNKNOWN;
            step(SMFIC_CONNECT, data, SMFIP_NR_CONN, "CONNECT");
        }
        if (!(protocol_ & SMFIP_NOHELO)) step(SMFIC_HELO, std::string("localhost") + '\0', SMFIP_NR_HELO, "HELO");
    }

    // Sends a step and, unless the milter negotiated no reply for it, expects SMFIR_CONTINUE.
    // Returns false when the milter answered SMFIR_SKIP (body only).
    bool step(char command, std::string_view data, std::uint32_t no_reply_flag, const char* what, std::string_view more = {}) {
        connection_->send(command, data, more);
        if (protocol_ & no_reply_flag) return true;
        const auto r = connection_->answer();
        if (r.command == SMFIR_CONTINUE) return true;
        if (r.command == SMFIR_SKIP && command == SMFIC_BODY) return false;
        throw ProtocolError(std::string(what) + " answered " + describe(r));
    }

    void run_transaction(const std::string& body, const std::string& queue_id, const std::string& message_id, Outcome& out) {
        const std::string macro_i = std::string("i") + '\0' + queue_id + '\0';
        connection_->send(SMFIC_MACRO, std::string(1, SMFIC_MAIL) + macro_i);
        if (!(protocol_ & SMFIP_NOMAIL)) step(SMFIC_MAIL, options_.sender + '\0', SMFIP_NR_MAIL, "MAIL");
        if (!(protocol_ & SMFIP_NORCPT))
            for (const auto& r : options_.recipients) step(SMFIC_RCPT, r + '\0', SMFIP_NR_RCPT, "RCPT");
        if (!(protocol_ & SMFIP_NOHDRS)) {
            // Values as Postfix hands them: with the leading space only when HDR_LEADSPC was negotiated.
            const std::string lead = (protocol_ & SMFIP_HDR_LEADSPC) ? " " : "";
            std::vector<HeaderField> fields = {
                {"Received", "from client.example.net (client.example.net [192.0.2.10])\n\tby mx.example.test (Postfix) with ESMTPS id " + queue_id + "\n\tfor <alice@example.test>; Mon, 2 Mar 2026 10:00:00 +0000 (UTC)"},
                {"From", "Sender <sender@example.net>"},
                {"To", "Alice <alice@example.test>"},
                {"Subject", "Benchmark message " + queue_id},
                {"Date", "Mon, 2 Mar 2026 10:00:00 +0000"},
                {"Message-ID", message_id},
                {"MIME-Version", "1.0"},
            };
            for (auto& f : content_fields(options_.binary)) fields.push_back(std::move(f));
            for (const auto& f : fields)
                step(SMFIC_HEADER, f.name + '\0' + lead + f.value + '\0', SMFIP_NR_HDR, "HEADER");
        }
        if (!(protocol_ & SMFIP_NOEOH)) step(SMFIC_EOH, "", SMFIP_NR_EOH, "EOH");
        if (!(protocol_ & SMFIP_NOBODY)) {
            for (std::size_t offset = 0; offset < body.size(); offset += kBodyChunk) {
                const std::string_view chunk = std::string_view(body).substr(offset, kBodyChunk);
                if (!step(SMFIC_BODY, chunk, SMFIP_NR_BODY, "BODY")) break;
            }
        }
        connection_->send(SMFIC_MACRO, std::string(1, SMFIC_BODYEOB) + macro_i);
        const auto eom_start = Clock::now();
        connection_->send(SMFIC_BODYEOB, "");

        bool content_type_changed = false;
        std::string head;  // the first bytes of the new body
        for (;;) {
            const auto r = connection_->answer();
            switch (r.command) {
                case SMFIR_REPLBODY:
                    out.replbody_bytes += r.data.size();
                    if (head.size() < 256) head.append(r.data.substr(0, 256 - head.size()));
                    continue;
                case SMFIR_CHGHEADER:
                    if (r.data.size() > 4 && r.data.substr(4).starts_with(std::string_view("Content-Type\0", 13)) &&
                        r.data.find("multipart/encrypted") != std::string_view::npos)
                        content_type_changed = true;
                    continue;
                case SMFIR_ADDHEADER:
                    if (r.data.starts_with(std::string_view("Content-Type\0", 13)) &&
                        r.data.find("multipart/encrypted") != std::string_view::npos)
                        content_type_changed = true;
                    continue;
                case SMFIR_INSHEADER:
                case SMFIR_CHGFROM:
                case SMFIR_ADDRCPT:
                case SMFIR_DELRCPT:
                case SMFIR_ADDRCPT_PAR:
                case SMFIR_QUARANTINE:
                case SMFIR_SETSYMLIST:
                    continue;
                case SMFIR_CONTINUE:
                case SMFIR_ACCEPT:
                    break;
                default:
                    throw ProtocolError("end of message answered " + describe(r));
            }
            break;
        }
        out.eom_ms = ms_between(eom_start, Clock::now());
        if (options_.expect_encrypt) {
            if (out.replbody_bytes == 0) throw ProtocolError("the milter accepted the message without replacing the body");
            if (!head.starts_with(kPreamble) || head.find("application/pgp-encrypted") == std::string::npos)
                throw ProtocolError("the new body does not start with the PGP/MIME preamble");
            if (!content_type_changed) throw ProtocolError("the milter did not set Content-Type: multipart/encrypted");
        } else if (out.replbody_bytes != 0) {
            throw ProtocolError("the milter replaced the body of a message it should have passed");
        }
    }

    const Options& options_;
    unsigned thread_;
    std::unique_ptr<Connection> connection_;
    std::size_t on_connection_ = 0;
    std::uint32_t actions_ = 0;
    std::uint32_t protocol_ = 0;
};

struct ThreadResult {
    std::vector<double> latencies;
    std::vector<double> eom;
    std::size_t replbody_bytes = 0;
    std::size_t errors = 0;
    std::string first_error;
    Clock::time_point last_done{};
};

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse(argc, argv);
    const std::vector<std::string> bodies = make_bodies(options.size, options.binary, options.variants, options.seed);

    std::vector<ThreadResult> results(options.concurrency);
    std::atomic<long long> remaining{static_cast<long long>(options.messages)};
    Clock::time_point start{};
    Clock::time_point deadline{};
    std::barrier sync(static_cast<std::ptrdiff_t>(options.concurrency), [&]() noexcept {
        start = Clock::now();
        deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
    });

    std::vector<std::thread> threads;
    for (unsigned t = 0; t < options.concurrency; ++t) {
        threads.emplace_back([&, t] {
            ThreadResult& result = results[t];
            Session session(options, t);
            std::size_t sequence = 0;
            auto one = [&](bool measured) {
                const std::string& body = bodies[(t + sequence) % bodies.size()];
                try {
                    const Outcome o = session.send_message(body, sequence++);
                    if (measured) {
                        result.latencies.push_back(o.latency_ms);
                        result.eom.push_back(o.eom_ms);
                        result.replbody_bytes += o.replbody_bytes;
                    }
                } catch (const std::exception& e) {
                    ++result.errors;
                    if (result.first_error.empty()) result.first_error = e.what();
                }
                if (measured) result.last_done = Clock::now();
            };
            for (std::size_t i = 0; i < options.warmup; ++i) one(false);
            const bool warmup_all_failed = options.warmup > 0 && result.errors == options.warmup;
            sync.arrive_and_wait();
            if (warmup_all_failed) {
                // Could not send a single message: do not spin on errors for the whole run.
                result.last_done = Clock::now();
                return;
            }
            if (options.messages > 0) {
                while (remaining.fetch_sub(1) > 0) one(true);
            } else {
                while (Clock::now() < deadline) one(true);
            }
            session.quit();
        });
    }
    for (auto& thread : threads) thread.join();

    std::vector<double> latencies, eom;
    std::size_t errors = 0, bytes = 0;
    std::string first_error;
    Clock::time_point end = start;
    for (const auto& r : results) {
        latencies.insert(latencies.end(), r.latencies.begin(), r.latencies.end());
        eom.insert(eom.end(), r.eom.begin(), r.eom.end());
        errors += r.errors;
        bytes += r.replbody_bytes;
        if (first_error.empty()) first_error = r.first_error;
        end = std::max(end, r.last_done);
    }
    const double elapsed = std::max(1e-9, ms_between(start, end) / 1000.0);
    const double rate = static_cast<double>(latencies.size()) / elapsed;
    const std::size_t n = latencies.size();

    ResultLine line("milter_load");
    line.add("size", options.size)
        .add("binary", std::size_t{options.binary ? 1u : 0u})
        .add("concurrency", std::size_t{options.concurrency})
        .add("messages", n)
        .add("seconds", elapsed, 3)
        .add("msgs_per_s", rate, 1)
        .add("p50_ms", percentile(latencies, 50), 2)
        .add("p95_ms", percentile(latencies, 95), 2)
        .add("p99_ms", percentile(latencies, 99), 2)
        .add("mean_ms", mean(latencies), 2)
        .add("eom_p50_ms", percentile(eom, 50), 2)
        .add("replbody_bytes_per_msg", n ? bytes / n : 0)
        .add("errors", errors);
    if (!options.label.empty()) line.add("label", options.label);
    std::cout << line.str() << "\n";
    std::cout << "milter_load: " << options.concurrency << " connection(s), " << options.size << "-byte "
              << (options.binary ? "base64" : "text") << " bodies: " << fixed(rate, 1) << " msgs/s, latency p50 "
              << fixed(percentile(latencies, 50)) << " ms, p95 " << fixed(percentile(latencies, 95)) << " ms, p99 "
              << fixed(percentile(latencies, 99)) << " ms (" << n << " messages in " << fixed(elapsed, 2) << " s), "
              << errors << " error(s)\n";
    if (errors > 0) {
        std::cerr << "milter_load: " << errors << " message(s) failed; first: " << first_error << "\n";
        return 1;
    }
    if (n == 0) {
        std::cerr << "milter_load: no message was measured\n";
        return 1;
    }
    return 0;
}
