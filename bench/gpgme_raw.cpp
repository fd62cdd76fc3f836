// gpgme_raw: the floor for a gpg-based design. GPGME alone encrypts the same entities the milter
// encrypts (Content-* fields, empty line, body; bodies from bench_common.hpp with the same seed) to the
// same key with the same options as the milter's GpgmeEncryptor (armor, offline, always-trust, the
// recipient given by fingerprint to gpgme_op_encrypt_ext), one fresh context per operation, data fed
// through read/write callbacks as GpgmeEncryptor does (--io memory: GPGME memory data objects instead).
//
// Two modes:
//   --home DIR               N threads in one process share one GnuPG home (what the milter does);
//                            the home is GPGME's process default, so each encryption is one gpg.
//   --homes DIR1,DIR2,...    N worker processes, each with its own home (worker i uses DIR[i % count]).
//                            Processes, not threads: a per-context home (gpgme_ctx_set_engine_info)
//                            costs GPGME an extra `gpg --version` per operation, which would be
//                            measured instead of the lock contention this mode exists to show.
//
// Output: one line "RESULT bench=gpgme_raw key=value ..." and one line for people.
#include <gpgme.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <clocale>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"

using namespace mdcrypt::bench;

namespace {

// --io callbacks (default): data objects on read/write callbacks, the way GpgmeEncryptor streams.
// --io memory: gpgme_data_new_from_mem / gpgme_data_new, the simplest GPGME program.
bool g_stream_io = true;

struct Options : LoadShape {
    std::string home;
    std::vector<std::string> homes;
    std::string recipient;  // fingerprint, or an address resolved once at start-up
    std::string gpg_program;
};

[[noreturn]] void usage(const std::string& error) {
    if (!error.empty()) std::cerr << "gpgme_raw: " << error << "\n";
    std::cerr << "Usage: gpgme_raw (--home DIR | --homes DIR,DIR,...) --recipient FPR|ADDRESS\n"
                 "                 (--messages M | --seconds S) [options]\n"
                 "  --concurrency N      threads (--home) or worker processes (--homes) (default 1)\n"
                 "  --size BYTES         body size, e.g. 10240, 10K, 1M (default 10K)\n"
                 "  --binary             body is base64 of random bytes (an attachment), not text\n"
                 "  --gpg-program PATH   gpg to run (default: GPGME's)\n"
                 "  --warmup W           unmeasured encryptions per worker first (default 1)\n"
                 "  --variants V         distinct bodies, encrypted in turn (default 4)\n"
                 "  --seed N             body generator seed (default 1; same bodies as milter_load)\n"
                 "  --io callbacks|memory  GPGME data objects on read/write callbacks as the milter's\n"
                 "                       GpgmeEncryptor streams (default), or in memory\n"
                 "  --label TEXT         copied into the RESULT line\n";
    std::exit(2);
}

std::vector<std::string> split_commas(const std::string& s) {
    std::vector<std::string> out;
    std::size_t from = 0;
    for (;;) {
        const auto comma = s.find(',', from);
        const std::string part = s.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
        if (!part.empty()) out.push_back(part);
        if (comma == std::string::npos) return out;
        from = comma + 1;
    }
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
            if (a == "--home") o.home = value(i);
            else if (a == "--homes") o.homes = split_commas(value(i));
            else if (a == "--recipient") o.recipient = value(i);
            else if (a == "--gpg-program") o.gpg_program = value(i);
            else if (a == "--io") {
                const std::string io = value(i);
                if (io != "memory" && io != "callbacks") usage("--io takes memory or callbacks");
                g_stream_io = io == "callbacks";
            }
            else if (a == "--help" || a == "-h") usage("");
            else usage("unknown argument '" + std::string(a) + "'");
        }
    } catch (const std::invalid_argument& e) {
        usage(e.what());
    }
    if (o.home.empty() == o.homes.empty()) usage("give exactly one of --home and --homes");
    if (o.recipient.empty()) usage("--recipient is required");
    if (const std::string error = check_load_shape(o); !error.empty()) usage(error);
    return o;
}

std::string error_text(gpgme_error_t err) {
    char buffer[256] = {};
    gpgme_strerror_r(err, buffer, sizeof buffer);
    return std::string(gpgme_strsource(err)) + ": " + buffer;
}

void check(gpgme_error_t err, const std::string& what) {
    if (err) throw std::runtime_error(what + ": " + error_text(err));
}

struct CtxDeleter {
    void operator()(gpgme_ctx_t c) const { gpgme_release(c); }
};
struct DataDeleter {
    void operator()(gpgme_data_t d) const { gpgme_data_release(d); }
};
using Ctx = std::unique_ptr<std::remove_pointer_t<gpgme_ctx_t>, CtxDeleter>;
using Data = std::unique_ptr<std::remove_pointer_t<gpgme_data_t>, DataDeleter>;

// Makes `home` GPGME's process default, as the milter's GpgEngine does: contexts then need no engine
// info of their own, and one encryption is one gpg process.
void init_engine(const std::string& home, const std::string& gpg_program) {
    if (!gpgme_check_version("1.11.0")) throw std::runtime_error("GPGME too old");
    gpgme_set_locale(nullptr, LC_CTYPE, std::setlocale(LC_CTYPE, nullptr));
    check(gpgme_set_engine_info(GPGME_PROTOCOL_OpenPGP, gpg_program.empty() ? nullptr : gpg_program.c_str(), home.c_str()),
          "gpgme_set_engine_info");
    check(gpgme_engine_check_version(GPGME_PROTOCOL_OpenPGP), "gpgme_engine_check_version");
}

Ctx new_context() {
    gpgme_ctx_t raw = nullptr;
    check(gpgme_new(&raw), "gpgme_new");
    Ctx ctx(raw);
    check(gpgme_set_protocol(ctx.get(), GPGME_PROTOCOL_OpenPGP), "gpgme_set_protocol");
    return ctx;
}

// The primary key fingerprint for an address (one keylist, at start-up only), or `recipient` itself.
std::string resolve_fingerprint(const std::string& recipient) {
    if (recipient.find('@') == std::string::npos) return recipient;
    Ctx ctx = new_context();
    gpgme_set_offline(ctx.get(), 1);
    check(gpgme_op_keylist_start(ctx.get(), ("<" + recipient + ">").c_str(), 0), "keylist");
    std::string fpr;
    gpgme_key_t key = nullptr;
    while (gpgme_op_keylist_next(ctx.get(), &key) == 0) {
        if (fpr.empty() && key->fpr) fpr = key->fpr;
        gpgme_key_unref(key);
    }
    if (fpr.empty()) throw std::runtime_error("no key for " + recipient);
    return fpr;
}

struct StreamState {
    const std::string* input;
    std::size_t offset = 0;
    std::size_t written = 0;
    bool armored = false;
};

ssize_t stream_read(void* handle, void* buffer, size_t size) {
    auto* s = static_cast<StreamState*>(handle);
    const std::size_t n = std::min(size, s->input->size() - s->offset);
    std::memcpy(buffer, s->input->data() + s->offset, n);
    s->offset += n;
    return static_cast<ssize_t>(n);
}

ssize_t stream_write(void* handle, const void* buffer, size_t size) {
    auto* s = static_cast<StreamState*>(handle);
    if (s->written == 0) s->armored = size >= 27 && std::memcmp(buffer, "-----BEGIN PGP MESSAGE-----", 27) == 0;
    s->written += size;
    return static_cast<ssize_t>(size);
}

// One encryption exactly as GpgmeEncryptor does it; returns the armored size.
std::size_t encrypt_once(const std::string& entity, const std::string& recipients) {
    Ctx ctx = new_context();
    gpgme_set_armor(ctx.get(), 1);
    gpgme_set_offline(ctx.get(), 1);
    (void)gpgme_set_ctx_flag(ctx.get(), "auto-key-retrieve", "0");
    (void)gpgme_set_ctx_flag(ctx.get(), "auto-key-locate", "local");
    gpgme_data_t raw_in = nullptr, raw_out = nullptr;
    if (g_stream_io) {
        StreamState state{&entity};
        gpgme_data_cbs in_cbs{stream_read, nullptr, nullptr, nullptr};
        gpgme_data_cbs out_cbs{nullptr, stream_write, nullptr, nullptr};
        check(gpgme_data_new_from_cbs(&raw_in, &in_cbs, &state), "gpgme_data_new_from_cbs");
        Data in(raw_in);
        check(gpgme_data_new_from_cbs(&raw_out, &out_cbs, &state), "gpgme_data_new_from_cbs");
        Data out(raw_out);
        check(gpgme_op_encrypt_ext(ctx.get(), nullptr, recipients.c_str(), GPGME_ENCRYPT_ALWAYS_TRUST, in.get(), out.get()),
              "gpgme_op_encrypt_ext");
        if (auto* result = gpgme_op_encrypt_result(ctx.get()); result && result->invalid_recipients)
            throw std::runtime_error("recipient rejected: " + error_text(result->invalid_recipients->reason));
        if (!state.armored) throw std::runtime_error("gpg produced no armored message");
        return state.written;
    }
    check(gpgme_data_new_from_mem(&raw_in, entity.data(), entity.size(), 0), "gpgme_data_new_from_mem");
    Data in(raw_in);
    check(gpgme_data_new(&raw_out), "gpgme_data_new");
    Data out(raw_out);
    check(gpgme_op_encrypt_ext(ctx.get(), nullptr, recipients.c_str(), GPGME_ENCRYPT_ALWAYS_TRUST, in.get(), out.get()),
          "gpgme_op_encrypt_ext");
    if (auto* result = gpgme_op_encrypt_result(ctx.get()); result && result->invalid_recipients)
        throw std::runtime_error("recipient rejected: " + error_text(result->invalid_recipients->reason));
    std::size_t size = 0;
    char* bytes = gpgme_data_release_and_get_mem(out.release(), &size);
    const bool armored = size > 27 && std::memcmp(bytes, "-----BEGIN PGP MESSAGE-----", 27) == 0;
    gpgme_free(bytes);
    if (!armored) throw std::runtime_error("gpg produced no armored message");
    return size;
}

struct WorkerResult {
    std::vector<double> latencies;
    std::size_t errors = 0;
    std::size_t output_bytes = 0;
    std::string first_error;
    Clock::time_point last_done{};
};

// One worker's measured loop. `next` says whether to encrypt one more.
template <class Next>
void run_worker(const std::vector<std::string>& entities, const std::string& recipients, unsigned worker,
                WorkerResult& result, Next&& next) {
    std::size_t sequence = 0;
    while (next()) {
        const std::string& entity = entities[(worker + sequence++) % entities.size()];
        const auto start = Clock::now();
        try {
            result.output_bytes += encrypt_once(entity, recipients);
            result.latencies.push_back(ms_between(start, Clock::now()));
        } catch (const std::exception& e) {
            ++result.errors;
            if (result.first_error.empty()) result.first_error = e.what();
        }
        result.last_done = Clock::now();
    }
}

void warm_up(const std::vector<std::string>& entities, const std::string& recipients, std::size_t count, WorkerResult& result) {
    for (std::size_t i = 0; i < count; ++i) {
        try {
            encrypt_once(entities[i % entities.size()], recipients);
        } catch (const std::exception& e) {
            ++result.errors;
            if (result.first_error.empty()) result.first_error = e.what();
        }
    }
}

// Threads sharing the one home.
Clock::time_point run_threads(const Options& o, const std::vector<std::string>& entities, std::vector<WorkerResult>& results) {
    init_engine(o.home, o.gpg_program);
    const std::string recipients = resolve_fingerprint(o.recipient) + "\n";
    std::atomic<long long> remaining{static_cast<long long>(o.messages)};
    Clock::time_point start{}, deadline{};
    std::barrier sync(static_cast<std::ptrdiff_t>(o.concurrency), [&]() noexcept {
        start = Clock::now();
        deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
    });
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < o.concurrency; ++t) {
        threads.emplace_back([&, t] {
            warm_up(entities, recipients, o.warmup, results[t]);
            sync.arrive_and_wait();
            if (o.messages > 0) run_worker(entities, recipients, t, results[t], [&] { return remaining.fetch_sub(1) > 0; });
            else run_worker(entities, recipients, t, results[t], [&] { return Clock::now() < deadline; });
        });
    }
    for (auto& t : threads) t.join();
    return start;
}

bool write_all(int fd, const void* data, std::size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

bool read_all(int fd, void* data, std::size_t size) {
    char* p = static_cast<char*>(data);
    while (size > 0) {
        const ssize_t n = ::read(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// Worker processes, each with its own home. Started before any thread or GPGME use in this process.
Clock::time_point run_processes(const Options& o, const std::vector<std::string>& entities, std::vector<WorkerResult>& results) {
    int ready[2], go[2];
    if (::pipe(ready) != 0 || ::pipe(go) != 0) throw std::runtime_error("pipe failed");
    std::vector<int> result_fds;
    std::vector<pid_t> children;
    for (unsigned w = 0; w < o.concurrency; ++w) {
        int out[2];
        if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
        const pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            ::close(ready[0]);
            ::close(go[1]);
            ::close(out[0]);
            WorkerResult r;
            std::string recipients;
            try {
                init_engine(o.homes[w % o.homes.size()], o.gpg_program);
                recipients = resolve_fingerprint(o.recipient) + "\n";
                warm_up(entities, recipients, o.warmup, r);
            } catch (const std::exception& e) {
                std::cerr << "gpgme_raw: worker " << w << ": " << e.what() << "\n";
                ::_exit(1);
            }
            const char byte = 'r';
            (void)write_all(ready[1], &byte, 1);
            char ignored;
            (void)!::read(go[0], &ignored, 1);  // EOF when the parent closes its end: everyone starts at once
            const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.seconds));
            std::size_t share = o.messages / o.concurrency + (w < o.messages % o.concurrency ? 1 : 0);
            if (o.messages > 0) run_worker(entities, recipients, w, r, [&] { return share-- > 0; });
            else run_worker(entities, recipients, w, r, [&] { return Clock::now() < deadline; });
            const std::uint64_t header[4] = {r.latencies.size(), r.errors, r.output_bytes,
                                             static_cast<std::uint64_t>(r.last_done.time_since_epoch().count())};
            bool ok = write_all(out[1], header, sizeof header) &&
                      write_all(out[1], r.latencies.data(), r.latencies.size() * sizeof(double));
            ::_exit(ok ? 0 : 1);
        }
        ::close(out[1]);
        result_fds.push_back(out[0]);
        children.push_back(pid);
    }
    ::close(ready[1]);
    ::close(go[0]);
    for (unsigned w = 0; w < o.concurrency; ++w) {
        char byte;
        if (!read_all(ready[0], &byte, 1)) break;  // a worker died: its result pipe tells
    }
    const Clock::time_point start = Clock::now();
    ::close(go[1]);
    for (unsigned w = 0; w < o.concurrency; ++w) {
        std::uint64_t header[4];
        WorkerResult& r = results[w];
        if (!read_all(result_fds[w], header, sizeof header)) {
            ++r.errors;
            r.first_error = "worker " + std::to_string(w) + " failed";
            r.last_done = start;
        } else {
            r.latencies.resize(header[0]);
            r.errors = header[1];
            r.output_bytes = header[2];
            r.last_done = Clock::time_point(Clock::duration(static_cast<Clock::rep>(header[3])));
            if (!read_all(result_fds[w], r.latencies.data(), r.latencies.size() * sizeof(double))) {
                r.latencies.clear();
                ++r.errors;
            }
            if (r.errors > 0 && r.first_error.empty()) r.first_error = "worker " + std::to_string(w) + " had errors";
        }
        ::close(result_fds[w]);
    }
    for (pid_t pid : children) {
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    return start;
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    std::vector<std::string> entities;
    for (const auto& body : make_bodies(o.size, o.binary, o.variants, o.seed)) entities.push_back(inner_entity(o.binary, body));

    std::vector<WorkerResult> results(o.concurrency);
    Clock::time_point start;
    try {
        start = o.homes.empty() ? run_threads(o, entities, results) : run_processes(o, entities, results);
    } catch (const std::exception& e) {
        std::cerr << "gpgme_raw: " << e.what() << "\n";
        return 1;
    }

    std::vector<double> latencies;
    std::size_t errors = 0, bytes = 0;
    std::string first_error;
    Clock::time_point end = start;
    for (const auto& r : results) {
        latencies.insert(latencies.end(), r.latencies.begin(), r.latencies.end());
        errors += r.errors;
        bytes += r.output_bytes;
        if (first_error.empty()) first_error = r.first_error;
        end = std::max(end, r.last_done);
    }
    const std::size_t n = latencies.size();
    const double elapsed = std::max(1e-9, ms_between(start, end) / 1000.0);
    const double rate = static_cast<double>(n) / elapsed;
    const char* mode = o.homes.empty() ? "shared-home" : "home-per-worker";

    ResultLine line("gpgme_raw");
    line.add("mode", std::string(mode))
        .add("io", std::string(g_stream_io ? "callbacks" : "memory"))
        .add("size", o.size)
        .add("binary", std::size_t{o.binary ? 1u : 0u})
        .add("concurrency", std::size_t{o.concurrency})
        .add("messages", n)
        .add("seconds", elapsed, 3)
        .add("msgs_per_s", rate, 1)
        .add("p50_ms", percentile(latencies, 50), 2)
        .add("p95_ms", percentile(latencies, 95), 2)
        .add("p99_ms", percentile(latencies, 99), 2)
        .add("mean_ms", mean(latencies), 2)
        .add("armored_bytes_per_msg", n ? bytes / n : 0)
        .add("errors", errors);
    if (!o.label.empty()) line.add("label", o.label);
    std::cout << line.str() << "\n";
    std::cout << "gpgme_raw (" << mode << "): " << o.concurrency << (o.homes.empty() ? " thread(s), " : " process(es), ")
              << o.size << "-byte " << (o.binary ? "base64" : "text") << " bodies: " << fixed(rate, 1)
              << " msgs/s, latency p50 " << fixed(percentile(latencies, 50)) << " ms, p95 "
              << fixed(percentile(latencies, 95)) << " ms, p99 " << fixed(percentile(latencies, 99)) << " ms (" << n
              << " in " << fixed(elapsed, 2) << " s), " << errors << " error(s)\n";
    if (errors > 0) {
        std::cerr << "gpgme_raw: " << errors << " encryption(s) failed; first: " << first_error << "\n";
        return 1;
    }
    return n == 0 ? 1 : 0;
}
