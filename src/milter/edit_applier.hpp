// Applies the core's result to the message in the MTA. The only code that modifies a message through
// libmilter: header edits in the core's order, then the new body streamed in chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/pgp_mime.hpp"

// libmilter's context; only edit_applier.cpp sees its definition.
struct smfi_str;

namespace mdcrypt::milter {

// At most this many bytes per smfi_replacebody call: one milter protocol packet (libmilter's
// MILTER_CHUNK_SIZE), so neither side buffers more than 64 KiB per call.
inline constexpr std::size_t kReplaceBodyChunk = 64 * 1024 - 1;

// A modification the MTA refused (the connection broke, or the action was not negotiated).
class MilterOpError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The three smfi_* operations, so the applier can be tested against a recording fake. Values are in
// the MTA's form already (header_value.hpp). Each returns false when the MTA refused.
class MilterOps {
public:
    virtual ~MilterOps() = default;
    virtual bool add_header(const std::string& name, const std::string& value) = 0;
    virtual bool change_header(const std::string& name, int index, const std::string* value) = 0;  // null deletes
    virtual bool replace_body(std::span<const char> chunk) = 0;
};

// The real thing, for one libmilter context during xxfi_eom.
std::unique_ptr<MilterOps> libmilter_ops(smfi_str* ctx);

struct ApplyStats {
    std::size_t header_edits = 0;
    std::size_t body_chunks = 0;
    std::uint64_t body_bytes = 0;
};

class EditApplier {
public:
    EditApplier(MilterOps& ops, bool leading_space_negotiated) : ops_(ops), leading_space_(leading_space_negotiated) {}

    // Header edits first (in order: the core emits deletes of one name in descending index order),
    // then the body. Throws MilterOpError on the first refusal; the caller then tempfails the message,
    // so a half-applied change is never delivered.
    ApplyStats apply(const EncryptedMessage& message);

private:
    MilterOps& ops_;
    bool leading_space_;
};

}  // namespace mdcrypt::milter
