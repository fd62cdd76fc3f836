// An SMTP reply the MTA is to give its client: basic code, enhanced status code, text.
#pragma once

#include <string>

namespace mdcrypt {

struct SmtpReply {
    std::string rcode;  // "451"
    std::string xcode;  // "4.7.0"
    std::string text;   // one line; front ends make it safe for their MTA interface
    bool operator==(const SmtpReply&) const = default;
};

}  // namespace mdcrypt
