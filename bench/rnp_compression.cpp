// RnpEncryptor with and without compression (ZLIB level 6, gpg's default) on the bodies the other
// benchmarks send: time per message and armored size, the two settings alternating message by message
// so load drift on a shared machine hits both alike. One thread; prints one RESULT line per setting.
//
//   rnp_compression --home DIR --recipient FPR --size 10K [--binary] [--messages 200]
#include <cstring>
#include <iostream>

#include "bench_common.hpp"
#include "crypto/rnp_encryptor.hpp"

using namespace mdcrypt;
using namespace mdcrypt::bench;

int main(int argc, char** argv) {
    std::string home, recipient;
    std::size_t size = 10240, messages = 200;
    bool binary = false;
    for (int i = 1; i < argc; ++i) {
        const std::string_view arg = argv[i];
        auto value = [&]() -> std::string_view {
            if (i + 1 >= argc) throw std::invalid_argument(std::string(arg) + " needs a value");
            return argv[++i];
        };
        if (arg == "--home") home = value();
        else if (arg == "--recipient") recipient = value();
        else if (arg == "--size") size = parse_size(value());
        else if (arg == "--messages") messages = static_cast<std::size_t>(parse_number(value()));
        else if (arg == "--binary") binary = true;
        else {
            std::cerr << "usage: rnp_compression --home DIR --recipient FPR [--size N] [--binary] [--messages N]\n";
            return 2;
        }
    }
    const std::vector<std::string> bodies = make_bodies(size, binary, 4, 1);
    const std::vector<std::string> entities = [&] {
        std::vector<std::string> out;
        for (const auto& body : bodies) out.push_back(inner_entity(binary, body));
        return out;
    }();
    struct Setting {
        const char* name;
        RnpEncryptor encryptor;
        std::vector<double> ms;
        std::size_t armored_bytes = 0;
    };
    Setting settings[] = {{"none", RnpEncryptor(home, RnpCompression::None), {}, 0},
                          {"zlib6", RnpEncryptor(home, RnpCompression::Zlib), {}, 0}};
    const std::vector<std::string> fingerprints{recipient};
    std::size_t errors = 0;
    for (std::size_t i = 0; i < messages; ++i)
        for (auto& setting : settings) {
            const std::string& entity = entities[i % entities.size()];
            StringSource source(entity);
            std::string armored;
            StringSink sink(armored);
            const auto start = Clock::now();
            try {
                setting.encryptor.encrypt(source, fingerprints, sink);
            } catch (const std::exception& e) {
                if (errors++ == 0) std::cerr << e.what() << "\n";
                continue;
            }
            setting.ms.push_back(ms_between(start, Clock::now()));
            setting.armored_bytes += armored.size();
        }
    for (auto& setting : settings) {
        const double n = static_cast<double>(setting.ms.size());
        ResultLine line("rnp_compression");
        line.add("compression", std::string(setting.name)).add("size", size).add("binary", std::string(binary ? "1" : "0"))
            .add("messages", setting.ms.size()).add("p50_ms", percentile(setting.ms, 50), 3)
            .add("mean_ms", mean(setting.ms), 3)
            .add("armored_bytes", n ? static_cast<double>(setting.armored_bytes) / n : 0.0, 0)
            .add("errors", errors);
        std::cout << line.str() << "\n";
    }
    return errors ? 1 : 0;
}
