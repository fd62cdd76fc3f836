#include "milter/edit_applier.hpp"

#include <libmilter/mfapi.h>

#include <vector>

#include "milter/header_value.hpp"

namespace mdcrypt::milter {

namespace {

// libmilter's prototypes take char* for strings it does not modify.
char* mutable_chars(const std::string& s) { return const_cast<char*>(s.c_str()); }

class LibmilterOps final : public MilterOps {
public:
    explicit LibmilterOps(SMFICTX* ctx) : ctx_(ctx) {}

    bool add_header(const std::string& name, const std::string& value) override {
        return smfi_addheader(ctx_, mutable_chars(name), mutable_chars(value)) == MI_SUCCESS;
    }
    bool change_header(const std::string& name, int index, const std::string* value) override {
        return smfi_chgheader(ctx_, mutable_chars(name), index, value ? mutable_chars(*value) : nullptr) == MI_SUCCESS;
    }
    bool replace_body(std::span<const char> chunk) override {
        auto* bytes = reinterpret_cast<unsigned char*>(const_cast<char*>(chunk.data()));
        return smfi_replacebody(ctx_, bytes, static_cast<int>(chunk.size())) == MI_SUCCESS;
    }

private:
    SMFICTX* ctx_;
};

}  // namespace

std::unique_ptr<MilterOps> libmilter_ops(smfi_str* ctx) { return std::make_unique<LibmilterOps>(ctx); }

ApplyStats EditApplier::apply(const EncryptedMessage& message) {
    ApplyStats stats;
    for (const auto& edit : message.header_edits) {
        bool ok = false;
        switch (edit.kind) {
            case HeaderEdit::Kind::Delete:
                ok = ops_.change_header(edit.name, edit.index, nullptr);
                break;
            case HeaderEdit::Kind::Change: {
                const std::string value = value_to_mta(edit.raw_value, leading_space_);
                ok = ops_.change_header(edit.name, edit.index, &value);
                break;
            }
            case HeaderEdit::Kind::Add:
                ok = ops_.add_header(edit.name, value_to_mta(edit.raw_value, leading_space_));
                break;
        }
        if (!ok) throw MilterOpError("the MTA refused a header change to " + edit.name);
        ++stats.header_edits;
    }
    if (!message.body) throw MilterOpError("no encrypted body to send");
    const auto reader = message.body->reader();
    std::vector<char> buffer(kReplaceBodyChunk);
    for (;;) {
        // Fill the buffer completely (sources may return short reads) so chunks are as large as allowed.
        std::size_t filled = 0;
        while (filled < buffer.size()) {
            const std::size_t n = reader->read(std::span<char>(buffer.data() + filled, buffer.size() - filled));
            if (n == 0) break;
            filled += n;
        }
        if (filled == 0) break;
        if (!ops_.replace_body(std::span<const char>(buffer.data(), filled)))
            throw MilterOpError("the MTA refused the replacement body");
        ++stats.body_chunks;
        stats.body_bytes += filled;
    }
    // A body of zero bytes still has to replace the old one; an encrypted body never is empty.
    if (stats.body_chunks == 0) throw MilterOpError("the encrypted body is empty");
    return stats;
}

}  // namespace mdcrypt::milter
