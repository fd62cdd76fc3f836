#include "milter/milter_callbacks.hpp"

#include <libmilter/mfapi.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <exception>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/pgp_mime.hpp"
#include "milter/connection_state.hpp"
#include "milter/edit_applier.hpp"
#include "milter/end_of_message.hpp"
#include "milter/limiter.hpp"
#include "milter/logging.hpp"
#include "milter/runtime.hpp"

namespace mdcrypt::milter {

namespace {

// Only what we use: add and change headers, replace the body.
constexpr unsigned long kActions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY;
// Protocol steps we do not need. envfrom, envrcpt, header, eoh, body, eom, abort and close stay.
constexpr unsigned long kStepsOff = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA;

std::atomic<Runtime*> g_runtime{nullptr};
std::atomic<std::size_t> g_in_progress{0};

struct Negotiated {
    bool leading_space = false;
    bool can_skip = false;
};

// What was negotiated, per libmilter context. The connection state is freed at xxfi_close, but
// after SMFIC_QUIT_NC (Sendmail after STARTTLS) the same context carries on without a new
// negotiation, so the flags must survive the close. Entries are overwritten when libmilter reuses a
// context address; the table is bounded by the most contexts ever alive at once.
class NegotiationMemo {
public:
    void remember(const SMFICTX* ctx, Negotiated n) {
        const std::lock_guard lock(mutex_);
        table_[ctx] = n;
    }
    Negotiated recall(const SMFICTX* ctx) const {
        const std::lock_guard lock(mutex_);
        const auto it = table_.find(ctx);
        return it == table_.end() ? Negotiated{} : it->second;
    }

private:
    mutable std::mutex mutex_;
    std::unordered_map<const SMFICTX*, Negotiated> table_;
};

NegotiationMemo g_negotiated;

ConnectionState* state_of(SMFICTX* ctx) { return static_cast<ConnectionState*>(smfi_getpriv(ctx)); }

// The connection state, created on first use: it pins the configuration snapshot current now.
ConnectionState& connection(SMFICTX* ctx) {
    if (auto* existing = state_of(ctx)) return *existing;
    Runtime* runtime = g_runtime.load();
    if (!runtime) throw std::runtime_error("not ready: no configuration loaded yet");
    auto created = std::make_unique<ConnectionState>(runtime->current());
    const Negotiated n = g_negotiated.recall(ctx);
    created->leading_space = n.leading_space;
    created->can_skip = n.can_skip;
    if (smfi_setpriv(ctx, created.get()) != MI_SUCCESS) throw std::runtime_error("smfi_setpriv failed");
    return *created.release();
}

void set_reply(SMFICTX* ctx, const SmtpReply& reply) {
    std::string rcode = reply.rcode, xcode = reply.xcode, text = reply.text;
    if (smfi_setreply(ctx, rcode.data(), xcode.data(), text.data()) != MI_SUCCESS)
        log_warning("smfi_setreply refused " + rcode + " " + xcode + "; the MTA uses its default reply");
}

// Reads the queue id whenever the MTA sent it: Sendmail sends `i` with MAIL, Postfix at end of
// header and end of message (with MAIL only once the queue file exists).
void capture_queue_id(SMFICTX* ctx, MessageState& message) {
    char name[] = "i";
    if (const char* id = smfi_getsymval(ctx, name); id && *id) message.set_queue_id(id);
}

void fail(SMFICTX* ctx, const char* stage, const char* what) noexcept {
    try {
        std::string queue_id = "-";
        if (auto* state = state_of(ctx); state && state->has_message()) {
            if (!state->message().queue_id().empty()) queue_id = state->message().queue_id();
            state->reset_message();  // the MTA tempfails the message; drop what we held of it
        }
        log_error("queue_id=" + queue_id + " verdict=tempfail stage=" + stage + " reason=\"" + what + "\"");
        set_reply(ctx, {"451", "4.3.0", "temporary failure in the encryption milter, try again later"});
    } catch (...) {
        // Nothing more can be done; SMFIS_TEMPFAIL is still returned.
    }
}

// The one place exceptions stop: any failure is a 4xx, never a pass.
template <class Fn>
sfsistat guard(SMFICTX* ctx, const char* stage, Fn&& fn) noexcept {
    try {
        return fn();
    } catch (const std::exception& e) {
        fail(ctx, stage, e.what());
    } catch (...) {
        fail(ctx, stage, "unknown exception");
    }
    return SMFIS_TEMPFAIL;
}

class InProgress {
public:
    InProgress() { ++g_in_progress; }
    ~InProgress() { --g_in_progress; }
    InProgress(const InProgress&) = delete;
    InProgress& operator=(const InProgress&) = delete;
};

long long milliseconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}

void log_recipients(const std::string& queue_id, const EomOutcome& outcome) {
    if (!log_verbose()) return;
    for (const auto& r : outcome.recipients)
        log_debug("queue_id=" + (queue_id.empty() ? std::string("-") : queue_id) + " rcpt=<" + r.address +
                  "> local=" + (r.local ? "yes" : "no") + " mode=" + std::string(to_string(r.mode)) +
                  " class=" + std::string(to_string(r.cls)) + " reason=\"" + r.reason + "\"");
}

sfsistat finish(SMFICTX* ctx, ConnectionState& connection, MessageState& message) {
    const auto start = std::chrono::steady_clock::now();
    const Snapshot& snapshot = connection.snapshot();
    ThrottledEncryptor encryptor(*snapshot.crypto->encryptor, g_runtime.load()->limiter());
    const BoundaryGenerator boundaries = random_boundary_generator();
    const EomContext context{*snapshot.config, snapshot.crypto->lookup, encryptor, boundaries,
                             static_cast<std::int64_t>(std::time(nullptr))};
    EomOutcome outcome = finish_message(context, message);

    MessageLogRecord record;
    record.queue_id = message.queue_id();
    record.recipients = outcome.recipients.size();
    record.fingerprints = outcome.decision.fingerprints;
    record.size_in = message.bytes_received();
    record.too_large = outcome.too_large;
    record.reason = outcome.log_reason;

    if (outcome.verdict == EomOutcome::Verdict::Encrypt) {
        try {
            const auto ops = libmilter_ops(ctx);
            const ApplyStats stats = EditApplier(*ops, connection.leading_space).apply(*outcome.encrypted);
            record.size_out = stats.body_bytes;
        } catch (const std::exception& e) {
            // Some changes may have reached the MTA: only a tempfail makes it drop them all.
            outcome.verdict = EomOutcome::Verdict::Tempfail;
            outcome.reply = SmtpReply{"451", "4.3.0", "encryption failed, try again later"};
            record.reason = std::string("applying the encrypted message failed: ") + e.what();
        }
    }
    if (outcome.reply) {
        set_reply(ctx, *outcome.reply);
        record.reply = outcome.reply->rcode + " " + outcome.reply->xcode;
    }
    record.verdict = std::string(to_string(outcome.verdict));
    record.milliseconds = milliseconds_since(start);
    log_recipients(record.queue_id, outcome);
    log_line(outcome.verdict == EomOutcome::Verdict::Tempfail ? Severity::Warning : Severity::Info,
             format_message_line(record));

    switch (outcome.verdict) {
        case EomOutcome::Verdict::Accept:
        case EomOutcome::Verdict::Encrypt: return SMFIS_CONTINUE;
        case EomOutcome::Verdict::Reject: return SMFIS_REJECT;
        case EomOutcome::Verdict::Tempfail: return SMFIS_TEMPFAIL;
    }
    return SMFIS_TEMPFAIL;
}

extern "C" {

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long, unsigned long,
                      unsigned long* pf0, unsigned long* pf1, unsigned long* pf2, unsigned long* pf3) {
    return guard(ctx, "negotiate", [&]() -> sfsistat {
        if ((f0 & kActions) != kActions) {
            log_error("the MTA does not offer adding/changing headers and replacing the body; refusing the connection");
            return SMFIS_REJECT;
        }
        *pf0 = kActions;
        // Only flags the MTA offered: asking for more makes libmilter abort the connection.
        *pf1 = f1 & (kStepsOff | SMFIP_SKIP | SMFIP_HDR_LEADSPC);
        *pf2 = 0;
        *pf3 = 0;
        if ((f0 & SMFIF_SETSYMLIST) != 0) {
            // The queue id for the log line, at end of message (where Postfix and Sendmail both know it).
            char macros[] = "i";
            if (smfi_setsymlist(ctx, SMFIM_EOM, macros) == MI_SUCCESS) *pf0 |= SMFIF_SETSYMLIST;
        }
        const Negotiated n{(*pf1 & SMFIP_HDR_LEADSPC) != 0, (*pf1 & SMFIP_SKIP) != 0};
        g_negotiated.remember(ctx, n);
        log_debug(std::string("negotiated with the MTA: header leading space ") + (n.leading_space ? "yes" : "no") +
                  ", skip " + (n.can_skip ? "yes" : "no") + ", macro list " +
                  ((*pf0 & SMFIF_SETSYMLIST) != 0 ? "yes" : "no"));
        auto& state = connection(ctx);
        state.leading_space = n.leading_space;
        state.can_skip = n.can_skip;
        return SMFIS_CONTINUE;
    });
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    return guard(ctx, "mail", [&] {
        auto& message = connection(ctx).begin_message();
        message.set_sender(argv && argv[0] ? argv[0] : "");
        capture_queue_id(ctx, message);
        return SMFIS_CONTINUE;
    });
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    return guard(ctx, "rcpt", [&] {
        if (!argv || !argv[0]) throw std::runtime_error("RCPT without an address");
        connection(ctx).message().add_recipient(argv[0]);
        return SMFIS_CONTINUE;
    });
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
    return guard(ctx, "header", [&] {
        auto& state = connection(ctx);
        state.message().add_header(name ? name : "", value ? value : "", state.leading_space);
        return SMFIS_CONTINUE;
    });
}

sfsistat on_eoh(SMFICTX* ctx) {
    return guard(ctx, "eoh", [&] {
        capture_queue_id(ctx, connection(ctx).message());
        return SMFIS_CONTINUE;
    });
}

sfsistat on_body(SMFICTX* ctx, unsigned char* bytes, size_t length) {
    return guard(ctx, "body", [&] {
        auto& state = connection(ctx);
        auto& message = state.message();
        message.append_body(std::string_view(reinterpret_cast<const char*>(bytes), length));
        // Too large to encrypt: the rest of the body is not needed to decide.
        return message.too_large() && state.can_skip ? SMFIS_SKIP : SMFIS_CONTINUE;
    });
}

sfsistat on_eom(SMFICTX* ctx) {
    return guard(ctx, "eom", [&] {
        const InProgress busy;
        auto& state = connection(ctx);
        const auto message = state.take_message();  // reset at end of message, whatever happens
        capture_queue_id(ctx, *message);
        return finish(ctx, state, *message);
    });
}

sfsistat on_abort(SMFICTX* ctx) {
    return guard(ctx, "abort", [&] {
        if (auto* state = state_of(ctx)) state->reset_message();
        return SMFIS_CONTINUE;
    });
}

sfsistat on_close(SMFICTX* ctx) {
    delete state_of(ctx);
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
}

}  // extern "C"

}  // namespace

void set_runtime(Runtime* runtime) { g_runtime = runtime; }

int register_filter() {
    smfiDesc description{};
    static char name[] = "mdcrypt-milter";
    description.xxfi_name = name;
    description.xxfi_version = SMFI_VERSION;
    description.xxfi_flags = kActions;
    description.xxfi_envfrom = on_envfrom;
    description.xxfi_envrcpt = on_envrcpt;
    description.xxfi_header = on_header;
    description.xxfi_eoh = on_eoh;
    description.xxfi_body = on_body;
    description.xxfi_eom = on_eom;
    description.xxfi_abort = on_abort;
    description.xxfi_close = on_close;
    description.xxfi_negotiate = on_negotiate;
    return smfi_register(description);
}

std::size_t messages_in_progress() { return g_in_progress.load(); }

}  // namespace mdcrypt::milter
