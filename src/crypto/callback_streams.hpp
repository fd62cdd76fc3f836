// A ByteSource or ByteSink handed to a C library's read and write callbacks (GPGME's data callbacks,
// librnp's custom input and output). The library calls them on the calling thread, inside its own
// operation, and an exception must not unwind through its C frames: the callback keeps it here and
// reports an I/O error, and the caller rethrows it once the library returns.
#pragma once

#include <exception>

#include "core/bytes.hpp"

namespace mdcrypt {

struct SourceStream {
    ByteSource& source;
    std::exception_ptr error;
};

struct SinkStream {
    ByteSink& sink;
    std::exception_ptr error;
};

}  // namespace mdcrypt
