#include "milter/logging.hpp"

#include "core/log_line.hpp"

namespace mdcrypt::milter {

std::string format_message_line(const MessageLogRecord& r) {
    LogLine line(r.queue_id);
    line.add("verdict", log_word(r.verdict));
    if (!r.reply.empty()) line.add("reply", r.reply);
    line.add("recipients", static_cast<std::uint64_t>(r.recipients));
    line.add_list("keys", r.fingerprints);
    line.add("size_in", r.size_in).add("size_out", r.size_out);
    line.add("ms", static_cast<std::uint64_t>(r.milliseconds < 0 ? 0 : r.milliseconds));
    if (r.too_large) line.add("too_large", true);
    line.add("reason", r.reason);
    return line.str();
}

std::string format_recipient_line(std::string_view queue_id, const RecipientDecision& d, const Admission* admission,
                                  bool deferrable) {
    LogLine line(queue_id);
    line.add("rcpt", "<" + d.address + ">").add("local", d.local).add("mode", to_string(d.mode)).add("class", log_word(d.cls));
    if (admission) {
        line.add("admission", log_word(admission->verdict));
        if (admission->reply) line.add("reply", admission->reply->rcode + " " + admission->reply->xcode);
    }
    if (!deferrable) line.add("deferrable", false);
    line.add("reason", d.reason);
    return line.str();
}

}  // namespace mdcrypt::milter
