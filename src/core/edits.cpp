#include "core/edits.hpp"

#include <stdexcept>

#include "core/text.hpp"

namespace mdcrypt {

std::vector<HeaderField> apply_header_edits(std::vector<HeaderField> fields, const std::vector<HeaderEdit>& edits) {
    for (const auto& edit : edits) {
        if (edit.kind == HeaderEdit::Kind::Add) {
            fields.push_back({edit.name, edit.raw_value});
            continue;
        }
        int seen = 0;
        auto it = fields.begin();
        for (; it != fields.end(); ++it)
            if (iequals(it->name, edit.name) && ++seen == edit.index) break;
        if (it == fields.end())
            throw std::logic_error("header edit refers to " + edit.name + " #" + std::to_string(edit.index) + ", which does not exist");
        if (edit.kind == HeaderEdit::Kind::Delete)
            fields.erase(it);
        else
            it->raw_value = edit.raw_value;
    }
    return fields;
}

}  // namespace mdcrypt
