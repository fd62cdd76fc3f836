// Line-end conversion on streams. Mail on the wire and inside OpenPGP/MIME is CRLF (RFC 5322, RFC 3156
// section 3: signatures and encryption cover the CRLF form); delivery tools (procmail, Dovecot's
// filter) speak LF.
#pragma once

#include <string>

#include "core/bytes.hpp"

namespace mdcrypt {

// Turns every bare LF into CRLF; CRLF and bare CR stay as they are.
std::string to_crlf(std::string_view text);

// Reads another source with every bare LF turned into CRLF. CRLF and bare CR pass as they are.
class CrlfSource final : public ByteSource {
public:
    explicit CrlfSource(ByteSource& inner) : inner_(inner) {}
    std::size_t read(std::span<char> out) override;

private:
    ByteSource& inner_;
    std::string pending_;
    std::size_t pending_pos_ = 0;
    char last_ = 0;
};

// Writes to another sink with every CRLF turned into LF. Bare CR passes as it is.
class LfSink final : public ByteSink {
public:
    explicit LfSink(ByteSink& inner) : inner_(inner) {}
    ~LfSink() override;
    void write(std::string_view bytes) override;
    // Writes a CR held back at the end of the last write (call once at the end).
    void flush();

private:
    ByteSink& inner_;
    bool held_cr_ = false;
};

}  // namespace mdcrypt
