// Is this message already encrypted end to end? Then it is delivered unchanged instead of being
// encrypted a second time. A wrong "yes" stores plaintext in a mailbox whose policy says encrypt,
// so the answer is "yes" only for an encrypted payload checked in its own bytes; headers, MIME
// labels and markers alone never count. Pure: no I/O, no clock, no crypto.
//
// Detected (everything else is "not protected" and gets encrypted):
//   PGP/MIME         top-level multipart/encrypted (any protocol) with exactly two parts: a control
//                    part of at most kMaxCleartextBytes, then a payload that is an encrypted OpenPGP
//                    message or CMS enveloped data (see "payload" below).
//   Exchange         top-level multipart/mixed of [an empty text/plain part], an application/
//                    pgp-encrypted control part and an encrypted OpenPGP payload, nothing else
//                    (PGP/MIME after Exchange rewrote it).
//   inline OpenPGP   a top-level text/plain whose text is one ASCII-armored PGP MESSAGE with only
//                    white space around it; or a multipart/mixed or /alternative whose first text part
//                    is that and whose every other leaf is such a text or an encrypted OpenPGP
//                    attachment. A block after other text (a quoted reply) does not count.
//   S/MIME           top-level application/pkcs7-mime or application/x-pkcs7-mime, or any
//                    application/* named *.p7m, whose DER is a ContentInfo of envelopedData
//                    (1.2.840.113549.1.7.3) or authEnvelopedData (1.2.840.113549.1.9.16.1.23).
//                    smime-type is not trusted; signed-data is not encrypted.
// Payload: after the Content-Transfer-Encoding (7bit, 8bit, binary, base64, quoted-printable) and
// ASCII armor are undone, an OpenPGP packet sequence of one or more PKESK (tag 1) or SKESK (tag 3)
// packets followed by one encrypted data packet (tag 9, 18 or 20) that ends the data (RFC 9580
// section 10.3). Only packet headers (section 4.2, old and new format, partial lengths followed) and
// version octets are read. For CMS, a definite outer length must match the data. Signed-only mail
// (multipart/signed, clear-signed text, S/MIME signed-data, a signed or literal OpenPGP message) is
// not protected.
// Cleartext a reader might show next to the ciphertext is bounded by kMaxCleartextBytes each: a
// multipart's preamble and epilogue (unless white space), the control part, the armor header lines.
// Armor must be one BEGIN line, headers, base64 lines, an optional "=XXXX" checksum and the END line.
// Anything ambiguous is not protected: a repeated Content-Type or Content-Transfer-Encoding field, a
// Content-Type that does not parse, "boundary" given more than once in any form or written anywhere else
// in the value (a comment, another parameter's name or value: see count_mentions), a multipart with an
// encoding, a part header with defects, an unterminated multipart.
//
// Limits (denial of service, and the point where we stop trusting what we cannot see). Beyond any of
// them the answer is "not protected", so the message is encrypted whole: no limit can make a
// must-encrypt message pass.
//   kMaxInspectedBodyBytes     body bytes looked at. A larger body is judged on its first bytes: the
//                              structure up to the start of the payload must lie within them, and parts
//                              or packets after them are not inspected.
//   kMaxMimeDepth              multipart levels looked into, the top one included.
//   kMaxInspectedParts         MIME parts whose headers are read, in all levels together.
//   kMaxBoundaryBytes          boundary length (RFC 2046 section 5.1.1 allows 1 to 70).
//   kMaxCleartextBytes         size of each piece of cleartext next to the ciphertext (see above).
//   kMaxPayloadDecodedBytes    decoded payload bytes read for the packet headers (about 500
//                              public-key session key packets, or any number of CMS recipients).
// Work is linear in the inspected bytes: each multipart level scans its own bytes once, and at most
// kMaxMimeDepth levels are entered.
//
// Not knowable without the keys: whether the bytes inside the packets are really ciphertext. A sender
// who deliberately frames its own plaintext as a session key or encrypted data packet, or puts it
// after kMaxInspectedBodyBytes of genuine ciphertext, can have it stored as it is; no mail client
// displays those bytes. Detection stops mislabelled mail and lookalikes, not a sender set on leaking
// its own message.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/header.hpp"

namespace mdcrypt {

inline constexpr std::size_t kMaxInspectedBodyBytes = 1024 * 1024;
inline constexpr int kMaxMimeDepth = 3;
inline constexpr std::size_t kMaxInspectedParts = 16;
inline constexpr std::size_t kMaxBoundaryBytes = 70;
inline constexpr std::size_t kMaxCleartextBytes = 1024;
inline constexpr std::size_t kMaxPayloadDecodedBytes = 256 * 1024;

enum class ProtectionKind {
    None,             // not protected: encrypt when policy says so
    PgpMime,          // RFC 3156 multipart/encrypted
    PgpMimeExchange,  // PGP/MIME rewritten by Exchange into multipart/mixed
    PgpInline,        // ASCII-armored OpenPGP message in the text
    Smime,            // CMS enveloped or authEnveloped data (RFC 8551), also inside multipart/encrypted
};

// "PGP/MIME", "PGP/MIME mangled by Exchange", "inline OpenPGP", "S/MIME", "none".
std::string_view to_string(ProtectionKind kind);

struct Protection {
    ProtectionKind kind = ProtectionKind::None;
    std::string detail;  // for the log: what was found, or why it is not protected; never content

    bool is_protected() const { return kind != ProtectionKind::None; }
};

// `fields`: the message header. `body_prefix`: the first bytes of the body with CRLF line ends (bytes
// after kMaxInspectedBodyBytes are ignored). `body_complete`: body_prefix is the whole body, so a
// missing closing delimiter or armor end is a defect rather than the inspection limit.
// Never throws on bad input (only std::bad_alloc).
Protection detect_protection(const std::vector<HeaderField>& fields, std::string_view body_prefix, bool body_complete);

}  // namespace mdcrypt
