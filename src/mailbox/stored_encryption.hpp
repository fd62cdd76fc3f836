// One stored message through the core, as the pipe filter runs it for the mailbox's own address:
// the verdict mdcrypt-mailbox counts, and the encrypted message written to a sink.
#pragma once

#include <cstdint>
#include <string>

#include "core/bytes.hpp"
#include "core/config.hpp"
#include "core/decision.hpp"
#include "core/encryptor.hpp"
#include "core/spool.hpp"
#include "mailbox/outcome.hpp"

namespace mdcrypt {

struct StoredMessageJob {
    std::string address;  // whose policy and key decide
    std::string token;    // the journal token, carried in every MIME boundary of the copy
    std::int64_t now = 0;  // seconds since the epoch, for key validity
};

struct StoredVerdict {
    StoredOutcome outcome = StoredOutcome::Failed;
    std::string reason;  // why, for Failed (the core's error or decision reason); else empty
};

struct StoredEncryptionServices {
    const Policy& policy;
    const KeyLookupFn& lookup;
    Encryptor& encryptor;
    SpoolSettings spool;
};

// Never throws: a failure is the verdict Failed with its reason, and `out` may then hold part of a
// message (the caller discards it).
StoredVerdict encrypt_stored_message(const StoredEncryptionServices& services, const StoredMessageJob& job,
                                     ByteSource& in, ByteSink& out);

}  // namespace mdcrypt
