// The RFC 3156 rewrite: which header fields change, what goes inside the encryption, and the
// multipart/encrypted body around the ciphertext. The original Content-* fields and body bytes are
// copied, never re-serialised. RFC 9788 header protection of the entity is in header_protection.hpp.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/bytes.hpp"
#include "core/edits.hpp"
#include "core/encryptor.hpp"
#include "core/header.hpp"
#include "core/header_protection.hpp"
#include "core/rewrite_options.hpp"
#include "core/spool.hpp"

namespace mdcrypt {

// Returns a fresh candidate boundary on each call. Injected so golden tests are deterministic.
using BoundaryGenerator = std::function<std::string()>;

// Random boundaries from the system CSPRNG. They contain '.' and '_', which cannot occur in
// ASCII-armored lines, and are checked against the armor anyway.
BoundaryGenerator random_boundary_generator();

// The MIME header of the entity that gets encrypted, CRLF, ending with the empty line.
// Without header protection: the original Content-* fields verbatim and in order (RFC 2045's default
// Content-Type first when there is none).
// With it: first the injected fields (every field that is not Content-*, MIME-Version, HP-Outer or
// stripped, verbatim and in order), then one "HP-Outer: Name: value" per injected field with the value
// the outer header shows after the rewrite, then the Content-* fields as above with
// `; hp="cipher"; protected-headers="v1"` appended to each Content-Type value (the RFC 2045 default gets
// it too; a line that would pass 78 characters is folded before a parameter; a protected-headers
// parameter the sender already wrote is kept and not added again).
std::string inner_entity_header(const std::vector<HeaderField>& fields, const RewriteOptions& options);

// Edits that turn the outer header into RFC 3156's: Content-Type becomes multipart/encrypted (kept at
// its position when present), other Content-* fields go, MIME-Version: 1.0 exactly once. Then the
// stripped fields are deleted and, with header protection, every Subject becomes " [...]" (none is
// added when there is none).
std::vector<HeaderEdit> outer_header_edits(const std::vector<HeaderField>& fields, std::string_view boundary,
                                           const RewriteOptions& options);

// The new body: the ciphertext (CRLF) between the fixed RFC 3156 parts. Readable many times.
class EncryptedBody {
public:
    EncryptedBody(std::string boundary, Spool armor);
    const std::string& boundary() const { return boundary_; }
    std::uint64_t size() const;
    std::unique_ptr<ByteSource> reader() const;

private:
    std::string boundary_;
    std::string prefix_;
    std::string suffix_;
    Spool armor_;
};

struct EncryptedMessage {
    std::vector<HeaderEdit> header_edits;
    std::unique_ptr<EncryptedBody> body;
};

// Encrypts the entity (inner header + body bytes, which must already be CRLF) to the given keys and
// returns the edits and new body. Throws EncryptError (and std::runtime_error for spool I/O).
EncryptedMessage encrypt_message(const std::vector<HeaderField>& fields, ByteSource& body_crlf,
                                 std::span<const std::string> fingerprints, Encryptor& encryptor,
                                 const SpoolSettings& spool, const BoundaryGenerator& boundaries,
                                 const RewriteOptions& options);
// The same with keys that may come from key files (what the processor uses).
EncryptedMessage encrypt_message(const std::vector<HeaderField>& fields, ByteSource& body_crlf,
                                 std::span<const EncryptionKey> keys, Encryptor& encryptor,
                                 const SpoolSettings& spool, const BoundaryGenerator& boundaries,
                                 const RewriteOptions& options);

}  // namespace mdcrypt
