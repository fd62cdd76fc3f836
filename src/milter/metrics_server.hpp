// The HTTP endpoint for monitoring ([metrics] listen): GET /metrics (Prometheus text exposition) and
// GET /health (200 "ok" or 503 naming the failed check). Served by civetweb on its own threads; the
// answers come from the functions given, called per request.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace mdcrypt::milter {

struct HealthReport {
    bool ok = true;
    std::string text;  // one line per check: "keyring: ok", "spool: cannot create a file in ...: ..."
};

class MetricsServer {
public:
    using Render = std::function<std::string()>;
    using Check = std::function<HealthReport()>;

    // Listens on `listen` ("HOST:PORT", "[V6]:PORT"). Throws std::runtime_error naming the address.
    MetricsServer(const std::string& listen, Render metrics, Check health);
    ~MetricsServer();  // stops listening and waits for requests in progress
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    struct Handlers;

private:
    std::unique_ptr<Handlers> handlers_;
    struct Context;
    std::unique_ptr<Context> context_;
};

}  // namespace mdcrypt::milter
