#include "milter/milter_callbacks.hpp"

#include <libmilter/mfapi.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <exception>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/log_line.hpp"
#include "core/pgp_mime.hpp"
#include "milter/connection_limit.hpp"
#include "milter/connection_state.hpp"
#include "milter/edit_applier.hpp"
#include "milter/end_of_message.hpp"
#include "milter/limiter.hpp"
#include "milter/logging.hpp"
#include "milter/recipient_step.hpp"
#include "milter/runtime.hpp"

namespace mdcrypt::milter {

namespace {

// Only what we use: add and change headers, replace the body.
constexpr unsigned long kActions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY;
// Protocol steps we do not need. envfrom, envrcpt, header, eoh, body, eom, abort and close stay.
constexpr unsigned long kStepsOff = SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA;
// Steps we never refuse, so the MTA need not wait for an answer. A failure there is remembered in the
// message and tempfails it at end of message. RCPT keeps its reply (a recipient may be refused there).
// Each answered step costs more than a round trip with Debian's libmilter (built with its worker pool):
// a session that has no next command within 1 ms goes back to the pool's controller thread and comes
// to a worker again through a pipe and a condition variable. Body chunks go unanswered too, so a
// message costs two answered steps (RCPT, end of message) whatever its size. That gives up
// SMFIS_SKIP (an answer): the rest of a message too large to encrypt streams past unread.
// (libmilter offers every no-reply flag and answers for us where the MTA lacks one.)
constexpr unsigned long kNoReply = SMFIP_NR_MAIL | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY;

std::atomic<Runtime*> g_runtime{nullptr};
std::atomic<std::size_t> g_in_progress{0};
ConnectionLimit g_connections;
constexpr std::chrono::seconds kRefusalLogPeriod{60};

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
    created->negotiated = g_negotiated.recall(ctx);
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

void fail(SMFICTX* ctx, const char* stage, bool no_reply, const char* what) noexcept {
    try {
        std::string queue_id;
        if (auto* state = state_of(ctx); state && state->has_message()) {
            auto& message = state->message();
            queue_id = message.queue_id();
            // Nothing more is collected; end of message tempfails it (the MTA may never hear of this
            // failure before then: a step without a reply).
            message.fail(std::string(stage) + ": " + what);
        }
        log_error(LogLine(queue_id)
                      .add("stage", stage)
                      .add("reason", std::string("failed, the message will be deferred: ") + what)
                      .str());
        if (!no_reply) set_reply(ctx, {"451", "4.3.0", "temporary failure in the encryption milter, try again later"});
    } catch (...) {
        // Nothing more can be done; the tempfail still follows.
    }
}

// The one place exceptions stop: any failure ends in a 4xx, never in a pass. Where the step has a
// reply it is the tempfail; where it has none (SMFIP_NR_*) the message remembers the failure and end
// of message tempfails it.
template <class Fn>
sfsistat guard(SMFICTX* ctx, const char* stage, bool no_reply, Fn&& fn) noexcept {
    try {
        return fn();
    } catch (const std::exception& e) {
        fail(ctx, stage, no_reply, e.what());
    } catch (...) {
        fail(ctx, stage, no_reply, "unknown exception");
    }
    return no_reply ? SMFIS_NOREPLY : SMFIS_TEMPFAIL;
}

// What was negotiated, readable before a connection state exists (and after QUIT_NC freed it).
Negotiated negotiated(SMFICTX* ctx) noexcept {
    if (const auto* state = state_of(ctx)) return state->negotiated;
    try {
        return g_negotiated.recall(ctx);
    } catch (...) {
        return {};  // (a mutex error) answer every step: never wrong, only slower
    }
}

sfsistat answer(bool no_reply) { return no_reply ? SMFIS_NOREPLY : SMFIS_CONTINUE; }

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
    for (const auto& r : outcome.recipients) log_debug(format_recipient_line(queue_id, r, nullptr, true));
}

sfsistat status_for(MessageDecision::Action verdict) {
    switch (verdict) {
        case MessageDecision::Action::Pass:
        case MessageDecision::Action::Encrypt: return SMFIS_CONTINUE;
        case MessageDecision::Action::Reject: return SMFIS_REJECT;
        case MessageDecision::Action::Defer: return SMFIS_TEMPFAIL;
    }
    return SMFIS_TEMPFAIL;
}

// End of message: ask finish_message() what to do, apply it, log one line.
sfsistat finish(SMFICTX* ctx, const ConnectionState& connection, const MessageState& message) {
    const auto start = std::chrono::steady_clock::now();
    const Snapshot& snapshot = connection.snapshot();
    ThrottledEncryptor encryptor(*snapshot.crypto->encryptor, g_runtime.load()->limiter());
    const BoundaryGenerator boundaries = random_boundary_generator();
    const EomContext context{*snapshot.config, snapshot.crypto->lookup, encryptor, boundaries,
                             static_cast<std::int64_t>(std::time(nullptr))};
    EomOutcome outcome = finish_message(context, message);

    std::uint64_t bytes_out = 0;
    if (outcome.verdict == MessageDecision::Action::Encrypt) {
        try {
            const auto ops = libmilter_ops(ctx);
            bytes_out = EditApplier(*ops, connection.negotiated.leading_space).apply(*outcome.encrypted).body_bytes;
        } catch (const std::exception& e) {
            outcome = application_failed(std::move(outcome), e.what());
        }
    }
    if (outcome.reply) set_reply(ctx, *outcome.reply);
    log_recipients(message.queue_id(), outcome);
    const long long milliseconds = milliseconds_since(start);
    count_message(outcome, message.bytes_received(), bytes_out, static_cast<double>(milliseconds) / 1000.0);
    log_line(outcome.verdict == MessageDecision::Action::Defer ? Severity::Warning : Severity::Info,
             format_message_line(log_record(message, outcome, bytes_out, milliseconds)));
    return status_for(outcome.verdict);
}

extern "C" {

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long, unsigned long,
                      unsigned long* pf0, unsigned long* pf1, unsigned long* pf2, unsigned long* pf3) {
    return guard(ctx, "negotiate", false, [&]() -> sfsistat {
        if ((f0 & kActions) != kActions) {
            log_error("the MTA does not offer adding/changing headers and replacing the body; refusing the connection");
            return SMFIS_REJECT;
        }
        *pf0 = kActions;
        auto& state = connection(ctx);
        const auto limit = state.config().milter.max_connections;
        state.slot = g_connections.try_acquire(limit);
        state.over_limit = !state.slot;
        // Only flags the MTA offered: asking for more makes libmilter abort the connection.
        // (libmilter offers the no-reply flags even to an MTA without them, and answers for us then.)
        // Over the limit the connect step is kept, to be answered with a tempfail.
        *pf1 = f1 & ((state.over_limit ? kStepsOff & ~SMFIP_NOCONNECT : kStepsOff) | kNoReply |
                     SMFIP_HDR_LEADSPC);
        if (state.over_limit)
            if (const auto refused = g_connections.refusals_to_report(std::chrono::steady_clock::now(), kRefusalLogPeriod))
                log_warning(std::to_string(limit) + " connections in use ([milter] max_connections in " +
                            state.config().file.string() + "): " + std::to_string(*refused) +
                            " new connection(s) tempfailed at connect since the last report; the MTA applies "
                            "milter_default_action");
        *pf2 = 0;
        *pf3 = 0;
        if ((f0 & SMFIF_SETSYMLIST) != 0) {
            // The queue id for the log line, at end of message (where Postfix and Sendmail both know it),
            // and the recipient's mailer at RCPT (milter.local_mailers; its absence marks a submission
            // that cannot defer a recipient, see recipient_step.hpp). Both are in the MTAs' default
            // lists too, so a refused request changes nothing.
            char eom_macros[] = "i";
            char rcpt_macros[] = "{rcpt_mailer}";
            const bool eom = smfi_setsymlist(ctx, SMFIM_EOM, eom_macros) == MI_SUCCESS;
            const bool rcpt = smfi_setsymlist(ctx, SMFIM_ENVRCPT, rcpt_macros) == MI_SUCCESS;
            if (eom || rcpt) *pf0 |= SMFIF_SETSYMLIST;
        }
        const Negotiated n{(*pf1 & SMFIP_HDR_LEADSPC) != 0, (*pf1 & SMFIP_NR_MAIL) != 0, (*pf1 & SMFIP_NR_HDR) != 0,
                           (*pf1 & SMFIP_NR_EOH) != 0, (*pf1 & SMFIP_NR_BODY) != 0};
        g_negotiated.remember(ctx, n);
        log_debug(std::string("negotiated with the MTA: header leading space ") + (n.leading_space ? "yes" : "no") +
                  ", macro list " + ((*pf0 & SMFIF_SETSYMLIST) != 0 ? "yes" : "no") +
                  ", no reply to mail/header/eoh/body " + (n.no_reply_mail ? "yes" : "no") + "/" +
                  (n.no_reply_header ? "yes" : "no") + "/" + (n.no_reply_eoh ? "yes" : "no") + "/" +
                  (n.no_reply_body ? "yes" : "no"));
        state.negotiated = n;
        return SMFIS_CONTINUE;
    });
}

// Asked for only over max_connections (on_negotiate): the MTA defers the whole session.
sfsistat on_connect(SMFICTX* ctx, char*, _SOCK_ADDR*) {
    return guard(ctx, "connect", false, [&] { return connection(ctx).over_limit ? SMFIS_TEMPFAIL : SMFIS_CONTINUE; });
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    const bool no_reply = negotiated(ctx).no_reply_mail;
    return guard(ctx, "mail", no_reply, [&] {
        auto& message = connection(ctx).begin_message();
        message.set_sender(argv && argv[0] ? argv[0] : "");
        capture_queue_id(ctx, message);
        return answer(no_reply);
    });
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    return guard(ctx, "rcpt", false, [&] {
        if (!argv || !argv[0]) throw std::runtime_error("RCPT without an address");
        auto& state = connection(ctx);
        auto& message = state.message();
        const Snapshot& snapshot = state.snapshot();
        char mailer_macro[] = "{rcpt_mailer}";
        const char* mailer = smfi_getsymval(ctx, mailer_macro);
        const RcptContext context{*snapshot.config, snapshot.crypto->lookup, static_cast<std::int64_t>(std::time(nullptr))};
        const RcptOutcome outcome =
            check_recipient(context, message, argv[0], mailer ? std::optional<std::string_view>(mailer) : std::nullopt);
        const auto& reply = outcome.admission.reply;
        if (!reply) {
            if (log_verbose()) log_debug(format_rcpt_line(message.queue_id(), outcome));
            return SMFIS_CONTINUE;
        }
        log_info(format_rcpt_line(message.queue_id(), outcome));
        set_reply(ctx, *reply);
        return reply->rcode.starts_with('5') ? SMFIS_REJECT : SMFIS_TEMPFAIL;
    });
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
    const bool no_reply = negotiated(ctx).no_reply_header;
    return guard(ctx, "header", no_reply, [&] {
        auto& state = connection(ctx);
        state.message().add_header(name ? name : "", value ? value : "", state.negotiated.leading_space);
        return answer(no_reply);
    });
}

sfsistat on_eoh(SMFICTX* ctx) {
    const bool no_reply = negotiated(ctx).no_reply_eoh;
    return guard(ctx, "eoh", no_reply, [&] {
        capture_queue_id(ctx, connection(ctx).message());
        return answer(no_reply);
    });
}

sfsistat on_body(SMFICTX* ctx, unsigned char* bytes, size_t length) {
    const bool no_reply = negotiated(ctx).no_reply_body;
    return guard(ctx, "body", no_reply, [&] {
        connection(ctx).message().append_body(std::string_view(reinterpret_cast<const char*>(bytes), length));
        return answer(no_reply);
    });
}

sfsistat on_eom(SMFICTX* ctx) {
    return guard(ctx, "eom", false, [&] {
        const InProgress busy;
        auto& state = connection(ctx);
        const auto message = state.take_message();  // reset at end of message, whatever happens
        capture_queue_id(ctx, *message);
        return finish(ctx, state, *message);
    });
}

sfsistat on_abort(SMFICTX* ctx) {
    return guard(ctx, "abort", false, [&] {
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
    description.xxfi_connect = on_connect;
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

std::size_t connections_open() { return g_connections.held(); }

}  // namespace mdcrypt::milter
