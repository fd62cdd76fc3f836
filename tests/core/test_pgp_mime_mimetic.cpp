// The rewrite's output read by a second, independent MIME parser (mimetic), as sqop and rnp are
// independent readers of the ciphertext: every golden output must be an RFC 3156 entity to a parser
// that shares no code with ours, keep the outer fields, and wrap (hex-encoded by the golden files'
// fake encryptor) an inner entity whose Content-Type mimetic reads as it reads the original's.
#include <catch2/catch.hpp>

#include <mimetic/mimetic.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "test_files.hpp"

namespace fs = std::filesystem;

namespace {

struct Golden {
    fs::path input;
    fs::path output;
    bool header_protection;
};

std::vector<Golden> golden_pairs() {
    std::vector<Golden> pairs;
    const fs::path dir = fs::path(MDCRYPT_TEST_DATA) / "golden";
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        const std::string suffix = ".in.eml";
        if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
        const std::string stem = name.substr(0, name.size() - suffix.size());
        for (const bool hp : {false, true}) {
            const fs::path out = dir / (stem + (hp ? ".hp.out.eml" : ".out.eml"));
            if (fs::exists(out)) pairs.push_back({entry.path(), out, hp});
        }
    }
    return pairs;
}

std::string mime_type(const mimetic::MimeEntity& entity) {
    const auto& ct = entity.header().contentType();
    return std::string(ct.type().c_str()) + "/" + std::string(ct.subtype().c_str());
}

std::string field_value(const mimetic::MimeEntity& entity, const std::string& name) {
    return entity.header().hasField(name) ? entity.header().field(name).value() : std::string("(absent)");
}

// The fake encryptor's "ciphertext": the inner entity in hex between the armor lines.
std::string inner_entity_from_armor(const std::string& armored) {
    std::istringstream lines(armored);
    std::string line, hex;
    bool in_body = false;
    while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line == "-----BEGIN PGP MESSAGE-----") {
            in_body = true;
            std::getline(lines, line);  // the empty line after the armor header
            continue;
        }
        if (!in_body || line.empty() || line[0] == '=' || line[0] == '-') continue;
        hex += line;
    }
    std::string bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    return bytes;
}

}  // namespace

TEST_CASE("mimetic reads every golden output as an RFC 3156 PGP/MIME entity", "[pgp_mime][mimetic]") {
    const auto pairs = golden_pairs();
    REQUIRE(pairs.size() >= 10);
    for (const auto& golden : pairs) {
        INFO(golden.output.filename().string());
        std::istringstream out_stream(mdcrypt::testing::read_file(golden.output));
        std::istringstream in_stream(mdcrypt::testing::read_file(golden.input));
        const mimetic::MimeEntity out(out_stream);
        const mimetic::MimeEntity in(in_stream);

        CHECK(mime_type(out) == "multipart/encrypted");
        CHECK(out.header().contentType().param("protocol") == "application/pgp-encrypted");
        const auto& parts = out.body().parts();
        REQUIRE(parts.size() == 2);
        const mimetic::MimeEntity& version = *parts.front();
        const mimetic::MimeEntity& payload = *parts.back();
        CHECK(mime_type(version) == "application/pgp-encrypted");
        CHECK(version.body().find("Version: 1") != std::string::npos);
        CHECK(mime_type(payload) == "application/octet-stream");
        const std::string armored = payload.body();
        CHECK(armored.find("-----BEGIN PGP MESSAGE-----") != std::string::npos);

        // Routing, threading and filtering fields read the same outside; the Subject too unless
        // header protection replaced it.
        for (const char* name : {"From", "To", "Cc", "Date", "Message-ID", "References", "In-Reply-To"})
            CHECK(field_value(out, name) == field_value(in, name));
        if (!golden.header_protection) CHECK(field_value(out, "Subject") == field_value(in, "Subject"));

        // Inside: the original Content-Type, as mimetic reads it (text/plain when the original had none).
        std::istringstream inner_stream(inner_entity_from_armor(armored));
        const mimetic::MimeEntity inner(inner_stream);
        const std::string original_type = in.header().hasField("Content-Type") ? mime_type(in) : "text/plain";
        CHECK(mime_type(inner) == original_type);
        CHECK(inner.body().parts().size() == in.body().parts().size());
    }
}
