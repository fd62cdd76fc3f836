#include "mailbox/stored_encryption.hpp"

#include <exception>
#include <vector>

#include "core/pipe_filter.hpp"

namespace mdcrypt {

StoredVerdict encrypt_stored_message(const StoredEncryptionServices& services, const StoredMessageJob& job,
                                     ByteSource& in, ByteSink& out) {
    unsigned counter = 0;
    const BoundaryGenerator boundaries = [&] { return token_boundary(job.token, counter++); };
    const ProcessContext context{services.policy, services.lookup, services.encryptor, services.spool, boundaries, job.now};
    const std::vector<std::string> recipients{job.address};
    FilterReport report;
    try {
        report = run_pipe_filter(context, recipients, in, out);
    } catch (const std::exception& e) {
        report.exit = FilterExit::TempFail;
        report.error = e.what();
    }
    StoredVerdict verdict{outcome_of(report), {}};
    if (verdict.outcome == StoredOutcome::Failed)
        verdict.reason = report.error.empty() ? report.result.decision.reason : report.error;
    return verdict;
}

}  // namespace mdcrypt
