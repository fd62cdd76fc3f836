// Whether an encryption engine's output is a whole ASCII-armored OpenPGP message, checked as it
// streams past (a 50 MB message is never held). A gpg killed while writing, or one that exits 0 after
// part of its output, leaves armor that no client can decrypt; replacing a body with it loses the mail.
//
// Checked (RFC 4880/9580 framing, no cryptography): the "-----BEGIN PGP MESSAGE-----" line, armor
// headers, a blank line, base64 lines, the CRC-24 line "=XXXX" matching the decoded bytes, the END line
// and nothing but blank lines after it; inside, one or more public-key encrypted session key packets
// (tag 1) then exactly one encrypted data packet (tag 18, SEIPD, or 20, AEAD) whose length, partial
// body lengths included, ends exactly where the data ends. Limits: armor lines of at most 4096 bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/armor.hpp"
#include "core/bytes.hpp"

namespace mdcrypt {

// The packet sequence of an encrypted message, fed with the decoded bytes in any chunking.
class EncryptedPacketsCheck {
public:
    void feed(std::string_view bytes);
    // What is wrong with everything fed, or nothing when it is a complete encrypted message.
    std::optional<std::string> finish() const;

private:
    void start_packet(int tag);
    void take_length_octets();

    std::string error_;
    std::uint64_t offset_ = 0;      // bytes fed so far, for error texts
    std::string header_;            // the header octets of the packet (or partial chunk) being read
    bool reading_chunk_length_ = false;  // after a partial chunk: next comes a length without a tag
    int tag_ = 0;
    bool new_format_ = false;
    bool partial_ = false;          // the current chunk is partial: more chunks follow
    std::uint64_t remaining_ = 0;   // body bytes left in the current packet or chunk
    bool in_body_ = false;
    int session_keys_ = 0;
    bool data_packet_ = false;
};

class ArmoredMessageCheck {
public:
    ArmoredMessageCheck();
    void feed(std::string_view bytes);
    std::optional<std::string> finish();

private:
    void line(std::string_view text);
    void fail(std::string why);

    EncryptedPacketsCheck packets_;
    ArmorReader armor_;
    std::string error_;          // a failure outside the armor: an overlong line, data after END
    std::string line_;
    std::uint64_t trailing_lines_ = 0;  // lines after the END line
};

// An engine's armored output passed on to `next` and checked on the way: what both encryptors write
// through, so neither can hand on output it did not check.
class CheckingSink final : public ByteSink {
public:
    explicit CheckingSink(ByteSink& next) : next_(next) {}
    void write(std::string_view bytes) override {
        check_.feed(bytes);
        next_.write(bytes);
    }
    std::optional<std::string> finish() { return check_.finish(); }

private:
    ByteSink& next_;
    ArmoredMessageCheck check_;
};

}  // namespace mdcrypt
