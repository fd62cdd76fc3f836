// The pipe filter's work on one message (mdcrypt-filter): read it, decide for its recipients, write
// it encrypted or unchanged. Front-end free so it is tested with fakes; main() wires stdin/stdout,
// the config and GPGME.
#pragma once

#include <span>
#include <string>

#include "core/bytes.hpp"
#include "core/processor.hpp"

namespace mdcrypt {

// sysexits.h values, which MTAs and delivery agents understand.
enum class FilterExit : int {
    Ok = 0,
    DataError = 65,  // unusable input (empty message)
    NoPermission = 77,  // encryption required but a recipient has no usable key: bounce
    TempFail = 75,   // try again later; nothing was written
    Config = 78,
};

struct FilterReport {
    FilterExit exit = FilterExit::TempFail;
    ProcessResult result;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::string error;  // for DataError/TempFail without a decision
};

// Reads the whole message from `in`, writes the result to `out` only when the exit is Ok.
// A message passed unchanged is written byte for byte as read; an encrypted one keeps the input's
// line-end convention (LF in, LF out) outside the ciphertext.
FilterReport run_pipe_filter(const ProcessContext& context, std::span<const std::string> recipients, ByteSource& in,
                             ByteSink& out);

// The one log line for the report (core/log_line.hpp): verdict, exit, recipients with their class,
// fingerprints, sizes, time, reason. Never content.
std::string describe(const FilterReport& report, long long milliseconds);

// The line for a failure before any report existed (an exception): defer, exit 75.
std::string describe_failure(std::string_view what, long long milliseconds);

}  // namespace mdcrypt
