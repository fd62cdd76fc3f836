#include "milter/metrics_server.hpp"

#include <civetweb.h>

#include <cstring>
#include <mutex>
#include <stdexcept>

namespace mdcrypt::milter {

struct MetricsServer::Handlers {
    Render metrics;
    Check health;
};

struct MetricsServer::Context {
    mg_context* ctx = nullptr;
    ~Context() {
        if (ctx) mg_stop(ctx);
    }
};

namespace {

void send_text(mg_connection* conn, int status, const std::string& body, const char* type) {
    if (status == 200) {
        mg_send_http_ok(conn, type, static_cast<long long>(body.size()));
        mg_write(conn, body.data(), body.size());
    } else {
        mg_send_http_error(conn, status, "%s", body.c_str());
    }
}

// Only GET (and HEAD): the endpoint changes nothing.
bool is_read(mg_connection* conn) {
    const mg_request_info* info = mg_get_request_info(conn);
    return info && info->request_method &&
           (std::strcmp(info->request_method, "GET") == 0 || std::strcmp(info->request_method, "HEAD") == 0);
}

int serve_metrics(mg_connection* conn, void* data) {
    auto* handlers = static_cast<MetricsServer::Handlers*>(data);
    if (!is_read(conn)) {
        send_text(conn, 405, "only GET\n", "text/plain");
        return 405;
    }
    try {
        send_text(conn, 200, handlers->metrics(), "text/plain; version=0.0.4; charset=utf-8");
        return 200;
    } catch (const std::exception& e) {
        send_text(conn, 500, std::string("metrics unavailable: ") + e.what() + "\n", "text/plain");
        return 500;
    }
}

int serve_health(mg_connection* conn, void* data) {
    auto* handlers = static_cast<MetricsServer::Handlers*>(data);
    if (!is_read(conn)) {
        send_text(conn, 405, "only GET\n", "text/plain");
        return 405;
    }
    HealthReport report;
    try {
        report = handlers->health();
    } catch (const std::exception& e) {
        report = {false, std::string("health check failed: ") + e.what() + "\n"};
    }
    const int status = report.ok ? 200 : 503;
    send_text(conn, status, report.text, "text/plain; charset=utf-8");
    return status;
}

int ignore_log(const mg_connection*, const char*) { return 1; }  // no access log: requests are polls

std::once_flag library_initialised;

}  // namespace

MetricsServer::MetricsServer(const std::string& listen, Render metrics, Check health)
    : handlers_(std::make_unique<Handlers>(Handlers{std::move(metrics), std::move(health)})),
      context_(std::make_unique<Context>()) {
    std::call_once(library_initialised, [] { mg_init_library(0); });
    const char* options[] = {"listening_ports", listen.c_str(), "num_threads", "2", "request_timeout_ms", "10000",
                             nullptr};
    mg_callbacks callbacks{};
    callbacks.log_access = ignore_log;
    char error_text[256] = {};
    unsigned error_code = 0;
    mg_error_data error{&error_code, error_text, sizeof error_text};
    mg_init_data init{&callbacks, nullptr, options};
    context_->ctx = mg_start2(&init, &error);
    if (!context_->ctx)
        throw std::runtime_error("cannot serve metrics on " + listen + ": " + (error_text[0] ? error_text : "unknown error"));
    mg_set_request_handler(context_->ctx, "/metrics$", serve_metrics, handlers_.get());
    mg_set_request_handler(context_->ctx, "/health$", serve_health, handlers_.get());
}

MetricsServer::~MetricsServer() = default;

}  // namespace mdcrypt::milter
