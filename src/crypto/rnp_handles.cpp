#include "crypto/rnp_handles.hpp"

#include <cstdint>
#include <cstdio>

#include "core/encryptor.hpp"
#include "core/keyring_file.hpp"

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

RnpInput rnp_memory_input(std::string_view bytes) {
    rnp_input_t raw = nullptr;
    if (const rnp_result_t r =
            rnp_input_from_memory(&raw, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), false))
        throw EncryptError(rnp_error_text("rnp_input_from_memory", r));
    return RnpInput(raw);
}

std::string rnp_keyring_load_error(const std::string& file, std::string_view bytes, bool keybox, rnp_result_t result) {
    const KeyringContents framed = keybox ? read_keybox(bytes) : read_legacy_keyring(bytes);
    return rnp_error_text(("cannot load keyring " + file + ": rnp_load_keys").c_str(), result) +
           (framed.ok() ? "; its framing is intact (gpg can read it): RNP rejects something in it "
                          "(librnp's own words are on stderr: the daemon logs them as librnp/stderr)"
                        : "; the file is damaged: " + framed.error);
}

}  // namespace mdcrypt
