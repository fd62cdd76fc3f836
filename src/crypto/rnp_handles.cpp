#include "crypto/rnp_handles.hpp"

#include <cstdio>

#include "core/encryptor.hpp"

namespace mdcrypt {

std::string rnp_error_text(const char* what, rnp_result_t result) {
    char code[16];
    std::snprintf(code, sizeof code, "0x%08x", static_cast<unsigned>(result));
    const char* text = rnp_result_to_string(result);
    return std::string(what) + ": " + (text ? text : "unknown RNP error") + " (" + code + ")";
}

RnpFfi new_rnp_ffi() {
    rnp_ffi_t raw = nullptr;
    if (const rnp_result_t r = rnp_ffi_create(&raw, "GPG", "GPG")) throw EncryptError(rnp_error_text("rnp_ffi_create", r));
    return RnpFfi(raw);
}

}  // namespace mdcrypt
