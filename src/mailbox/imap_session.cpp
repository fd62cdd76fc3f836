#include "mailbox/imap_session.hpp"

#include <algorithm>

#include "core/text.hpp"
#include "mailbox/imap_value.hpp"

namespace mdcrypt {

namespace {

// A command's name for messages: "UID FETCH 12 (...)" -> "UID FETCH".
std::string command_name(const std::string& command) {
    auto end = command.find(' ');
    if (command.starts_with("UID ")) end = command.find(' ', 4);
    return command.substr(0, end);
}

// "* 12 FETCH (...)": the FETCH data list, or nullptr for any other untagged line.
const ImapValue* fetch_data(const std::vector<ImapValue>& values) {
    if (values.size() == 3 && values[1].is_atom("FETCH") && values[2].kind == ImapValue::Kind::List) return &values[2];
    return nullptr;
}

MessageState state_from(const FetchItems& items) {
    MessageState state;
    state.uid = *items.uid;
    for (const auto& f : items.flags.value_or(std::vector<std::string>{}))
        if (!iequals(f, "\\Recent")) state.flags.push_back(f);
    state.internal_date = items.internal_date.value_or("");
    state.modseq = items.modseq.value_or(0);
    return state;
}

void parse_search(const ImapLine& line, std::vector<std::uint32_t>& out) {
    const auto values = parse_imap_values(line.text);
    if (values.empty() || !values[0].is_atom("SEARCH")) return;
    for (std::size_t i = 1; i < values.size(); ++i)
        if (values[i].kind == ImapValue::Kind::Atom) out.push_back(static_cast<std::uint32_t>(imap_number(values[i].text, UINT32_MAX)));
}

}  // namespace

std::string imap_flag_list(const std::vector<std::string>& flags) {
    std::string out = "(";
    for (const auto& f : flags) {
        if (f.empty() || f.find_first_of(" ()\"{%*\r\n\\", f.front() == '\\' ? 1 : 0) != std::string::npos)
            throw std::invalid_argument("not an IMAP flag: " + f);
        if (out.size() > 1) out += ' ';
        out += f;
    }
    return out + ")";
}

ImapSession::ImapSession(ImapConnection connection) : connection_(std::move(connection)) {}

ImapStatus ImapSession::run(const std::string& command, const ImapConnection::UntaggedHandler& on_untagged) {
    ImapStatus status = connection_.command(command, on_untagged);
    if (!status.ok())
        throw ImapCommandError("IMAP " + command_name(command) + (selected_.empty() ? "" : " in '" + selected_ + "'") +
                               ": " + status.status + " " + status.text);
    return status;
}

void ImapSession::start() {
    const ImapLine greeting = connection_.read_greeting();
    if (!greeting.text.starts_with("* PREAUTH"))
        throw ImapProtocolError("IMAP: expected a pre-authenticated session, the server said: " + greeting.text.substr(0, 80));
    run("ENABLE CONDSTORE");
}

std::vector<ImapFolder> ImapSession::list_folders() {
    std::vector<ImapFolder> folders;
    run("LIST \"\" \"*\"", [&](ImapLine& line) {
        const auto values = parse_imap_values(line.text);
        if (values.size() != 4 || !values[0].is_atom("LIST") || values[1].kind != ImapValue::Kind::List) return;
        ImapFolder folder;
        for (const auto& attribute : values[1].items)
            if (attribute.is_atom("\\Noselect") || attribute.is_atom("\\NonExistent")) folder.selectable = false;
        const ImapValue& name = values[3];
        if (name.kind == ImapValue::Kind::Literal) {
            auto reader = line.literals.at(name.literal).reader();
            folder.name = read_all(*reader);
        } else if (name.kind == ImapValue::Kind::String || name.kind == ImapValue::Kind::Atom) {
            folder.name = name.text;
        } else {
            return;
        }
        folders.push_back(std::move(folder));
    });
    return folders;
}

std::uint32_t ImapSession::count_messages(const std::string& folder) {
    std::optional<std::uint32_t> count;
    run("STATUS " + imap_quoted(folder) + " (MESSAGES)", [&](ImapLine& line) {
        const auto values = parse_imap_values(line.text);
        if (values.size() != 3 || !values[0].is_atom("STATUS") || values[2].kind != ImapValue::Kind::List) return;
        const auto& items = values[2].items;
        for (std::size_t i = 0; i + 1 < items.size(); i += 2)
            if (items[i].is_atom("MESSAGES")) count = static_cast<std::uint32_t>(imap_number(items[i + 1].text, UINT32_MAX));
    });
    if (!count) throw ImapProtocolError("IMAP STATUS '" + folder + "': no message count in the answer");
    return *count;
}

SelectedFolder ImapSession::select(const std::string& folder) {
    selected_.clear();
    SelectedFolder selected;
    run("SELECT " + imap_quoted(folder), [&](ImapLine& line) {
        const auto values = parse_imap_values(line.text);
        if (values.size() >= 2 && values[1].is_atom("EXISTS"))
            selected.exists = static_cast<std::uint32_t>(imap_number(values[0].text, UINT32_MAX));
        const std::string_view code = values.size() >= 2 && values[0].is_atom("OK")
                                          ? response_code(std::string_view(line.text).substr(3))
                                          : std::string_view{};
        if (code.starts_with("UIDVALIDITY "))
            selected.uid_validity = static_cast<std::uint32_t>(imap_number(code.substr(12), UINT32_MAX));
    });
    if (selected.uid_validity == 0) throw ImapProtocolError("IMAP SELECT '" + folder + "': no UIDVALIDITY");
    selected_ = folder;
    return selected;
}

std::vector<std::uint32_t> ImapSession::uids() {
    std::vector<std::uint32_t> out;
    run("UID SEARCH ALL", [&](ImapLine& line) { parse_search(line, out); });
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<FetchedMessage> ImapSession::fetch_messages(const std::vector<std::uint32_t>& uids) {
    std::vector<FetchedMessage> out;
    if (uids.empty()) return out;
    run("UID FETCH " + imap_uid_set(uids) + " (UID FLAGS INTERNALDATE MODSEQ BODY.PEEK[])", [&](ImapLine& line) {
        const auto values = parse_imap_values(line.text);
        const ImapValue* data = fetch_data(values);
        if (!data) return;
        const FetchItems items = read_fetch_items(*data);
        if (!items.uid || !std::binary_search(uids.begin(), uids.end(), *items.uid)) return;
        if (!items.body_literal || !items.flags || !items.internal_date || !items.modseq) return;
        out.push_back(FetchedMessage{state_from(items), std::move(line.literals.at(*items.body_literal))});
    });
    std::sort(out.begin(), out.end(), [](const FetchedMessage& a, const FetchedMessage& b) { return a.state.uid < b.state.uid; });
    return out;
}

std::optional<MessageState> ImapSession::fetch_state(std::uint32_t uid) {
    std::optional<MessageState> out;
    run("UID FETCH " + std::to_string(uid) + " (UID FLAGS INTERNALDATE MODSEQ)", [&](ImapLine& line) {
        const auto values = parse_imap_values(line.text);
        const ImapValue* data = fetch_data(values);
        if (!data) return;
        const FetchItems items = read_fetch_items(*data);
        if (items.uid != uid || !items.flags || !items.modseq) return;
        out = state_from(items);
    });
    return out;
}

std::vector<std::uint32_t> ImapSession::mark_deleted_unchanged_since(const std::vector<std::uint32_t>& uids, std::uint64_t modseq) {
    if (uids.empty()) return {};
    const ImapStatus status = run("UID STORE " + imap_uid_set(uids) + " (UNCHANGEDSINCE " + std::to_string(modseq) +
                                  ") +FLAGS.SILENT (\\Deleted)");
    const std::string_view code = response_code(status.text);
    if (!code.starts_with("MODIFIED ")) return {};
    return parse_uid_set(code.substr(9));
}

void ImapSession::expunge(const std::vector<std::uint32_t>& uids) {
    if (!uids.empty()) run("UID EXPUNGE " + imap_uid_set(uids));
}

std::vector<std::uint32_t> ImapSession::existing(const std::vector<std::uint32_t>& uids) {
    std::vector<std::uint32_t> out;
    if (uids.empty()) return out;
    run("UID FETCH " + imap_uid_set(uids) + " (UID)", [&](ImapLine& line) {
        const auto values = parse_imap_values(line.text);
        const ImapValue* data = fetch_data(values);
        if (!data) return;
        const FetchItems items = read_fetch_items(*data);
        if (items.uid && std::binary_search(uids.begin(), uids.end(), *items.uid)) out.push_back(*items.uid);
    });
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void ImapSession::clear_deleted(std::uint32_t uid) {
    run("UID STORE " + std::to_string(uid) + " -FLAGS.SILENT (\\Deleted)");
}

std::vector<std::uint32_t> ImapSession::append(const std::string& folder, const std::vector<Append>& messages,
                                               std::uint32_t uid_validity) {
    if (messages.empty()) return {};
    std::vector<ImapConnection::LiteralPart> parts;
    for (const Append& m : messages) {
        std::string text = " ";
        text += imap_flag_list(m.flags);
        text += ' ';
        text += imap_quoted(m.internal_date);
        parts.push_back({std::move(text), m.message, m.size});
    }
    const ImapStatus status = connection_.command_with_literals("APPEND " + imap_quoted(folder), parts);
    if (!status.ok()) throw ImapCommandError("IMAP APPEND to '" + folder + "': " + status.status + " " + status.text);
    const auto values = parse_imap_values(response_code(status.text));
    if (values.size() != 3 || !values[0].is_atom("APPENDUID"))
        throw ImapProtocolError("IMAP APPEND to '" + folder + "': no APPENDUID in '" + status.text.substr(0, 80) + "'");
    if (imap_number(values[1].text, UINT32_MAX) != uid_validity)
        throw ImapProtocolError("IMAP APPEND to '" + folder + "': the folder's UIDVALIDITY changed");
    std::vector<std::uint32_t> uids = parse_uid_set(values[2].text, messages.size());
    if (uids.size() != messages.size())
        throw ImapProtocolError("IMAP APPEND to '" + folder + "': APPENDUID names " + std::to_string(uids.size()) +
                                " messages for " + std::to_string(messages.size()));
    return uids;
}

std::vector<std::uint32_t> ImapSession::search_header(const std::string& field, const std::string& text) {
    std::vector<std::uint32_t> out;
    run("UID SEARCH HEADER " + imap_quoted(field) + " " + imap_quoted(text), [&](ImapLine& line) { parse_search(line, out); });
    std::sort(out.begin(), out.end());
    return out;
}

void ImapSession::logout() { connection_.command("LOGOUT"); }

}  // namespace mdcrypt
