// Header edits the core asks for; the milter adapter performs them with smfi_* calls, tests and the
// pipe filter apply them to a field list.
#pragma once

#include <string>
#include <vector>

#include "core/header.hpp"

namespace mdcrypt {

struct HeaderEdit {
    enum class Kind { Change, Delete, Add };
    Kind kind;
    std::string name;
    int index = 1;          // Change/Delete: 1-based among the current fields of this name
    std::string raw_value;  // Change/Add: text after the colon, leading space included, "\r\n\t" folding
};

// Applies edits in order. Delete/Change of the index-th current field of that name; Add appends.
// The core emits deletes of one name in descending index order, so MTAs that do or do not renumber
// after a delete agree on the result.
std::vector<HeaderField> apply_header_edits(std::vector<HeaderField> fields, const std::vector<HeaderEdit>& edits);

}  // namespace mdcrypt
