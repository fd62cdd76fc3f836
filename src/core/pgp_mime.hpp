// The RFC 3156 rewrite: which header fields change, what goes inside the encryption, and the
// multipart/encrypted body around the ciphertext. The original Content-* fields and body bytes are
// copied, never re-serialised.
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
#include "core/spool.hpp"

namespace mdcrypt {

// Returns a fresh candidate boundary on each call. Injected so golden tests are deterministic.
using BoundaryGenerator = std::function<std::string()>;

// Random boundaries from the system CSPRNG. They contain '.' and '_', which cannot occur in
// ASCII-armored lines, and are checked against the armor anyway.
BoundaryGenerator random_boundary_generator();

// The MIME header of the entity that gets encrypted: the original Content-* fields verbatim and in
// order (RFC 2045's default Content-Type first when there is none), then the empty line. CRLF.
std::string inner_entity_header(const std::vector<HeaderField>& fields);

// Edits that turn the outer header into RFC 3156's: Content-Type becomes multipart/encrypted (kept at
// its position when present), other Content-* fields go, MIME-Version: 1.0 exactly once.
std::vector<HeaderEdit> outer_header_edits(const std::vector<HeaderField>& fields, std::string_view boundary);

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
                                 const SpoolSettings& spool, const BoundaryGenerator& boundaries);

}  // namespace mdcrypt
