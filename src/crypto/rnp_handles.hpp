// Owners for librnp's C handles, and error text.
//
// An rnp_ffi_t (and everything made from it: inputs, outputs, operations, key handles) is not
// thread-safe: one thread uses it at a time (RnpEncryptor hands each operation its own).
#pragma once

#include <rnp/rnp.h>
#include <rnp/rnp_err.h>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

namespace mdcrypt {

struct RnpFfiDeleter {
    void operator()(rnp_ffi_t ffi) const noexcept { rnp_ffi_destroy(ffi); }
};
struct RnpInputDeleter {
    void operator()(rnp_input_t input) const noexcept { rnp_input_destroy(input); }
};
struct RnpOutputDeleter {
    void operator()(rnp_output_t output) const noexcept { rnp_output_destroy(output); }
};
struct RnpOpEncryptDeleter {
    void operator()(rnp_op_encrypt_t op) const noexcept { rnp_op_encrypt_destroy(op); }
};
struct RnpKeyDeleter {
    void operator()(rnp_key_handle_t key) const noexcept { rnp_key_handle_destroy(key); }
};
struct RnpUidDeleter {
    void operator()(rnp_uid_handle_t uid) const noexcept { rnp_uid_handle_destroy(uid); }
};
struct RnpIdentifierIteratorDeleter {
    void operator()(rnp_identifier_iterator_t it) const noexcept { rnp_identifier_iterator_destroy(it); }
};
struct RnpBufferDeleter {
    void operator()(char* buffer) const noexcept { rnp_buffer_destroy(buffer); }
};

using RnpFfi = std::unique_ptr<std::remove_pointer_t<rnp_ffi_t>, RnpFfiDeleter>;
using RnpInput = std::unique_ptr<std::remove_pointer_t<rnp_input_t>, RnpInputDeleter>;
using RnpOutput = std::unique_ptr<std::remove_pointer_t<rnp_output_t>, RnpOutputDeleter>;
using RnpOpEncrypt = std::unique_ptr<std::remove_pointer_t<rnp_op_encrypt_t>, RnpOpEncryptDeleter>;
using RnpKey = std::unique_ptr<std::remove_pointer_t<rnp_key_handle_t>, RnpKeyDeleter>;
using RnpUid = std::unique_ptr<std::remove_pointer_t<rnp_uid_handle_t>, RnpUidDeleter>;
using RnpIdentifierIterator = std::unique_ptr<std::remove_pointer_t<rnp_identifier_iterator_t>, RnpIdentifierIteratorDeleter>;
using RnpBuffer = std::unique_ptr<char, RnpBufferDeleter>;

// "what: RNP's description (0x...)" for a failed call.
std::string rnp_error_text(const char* what, rnp_result_t result);

// A new ffi object for OpenPGP (GPG format) keyrings with no keys. Throws EncryptError.
RnpFfi new_rnp_ffi();

// An input reading `bytes` in place (they must outlive it). Throws EncryptError.
RnpInput rnp_memory_input(std::string_view bytes);

// Why librnp could not load the keyring `file` (`keybox`: pubring.kbx, else pubring.gpg): its error,
// and what our own framing reader says of the same bytes. "Bad format" alone does not say what is
// wrong, and librnp's own lines on stderr carry no file name.
std::string rnp_keyring_load_error(const std::string& file, std::string_view bytes, bool keybox, rnp_result_t result);

}  // namespace mdcrypt
