#include "common/metrics_server.h"

#include <httplib.h>

#include <thread>

namespace ismscode {

struct MetricsServer::Impl {
  httplib::Server server;
  std::thread thread;
  int port = 0;
};

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& bind, std::function<std::string()> render) {
  const size_t colon = bind.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    const std::string digits = bind.substr(colon + 1);
    if (!digits.empty() && digits.size() <= 5 &&
        digits.find_first_not_of("0123456789") == std::string::npos) {
      port = std::stoi(digits);
    }
  }
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError("metrics address must be HOST:PORT (got '" + bind + "')");
  }
  const std::string host = bind.substr(0, colon);
  auto impl = std::make_unique<Impl>();
  httplib::Server& server = impl->server;
  server.set_tcp_nodelay(true);
  server.set_keep_alive_timeout(5);
  server.new_task_queue = [] { return new httplib::ThreadPool(2); };
  server.Get("/metrics",
             [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
               res.set_content(render(), "text/plain; version=0.0.4; charset=utf-8");
             });
  impl->port =
      port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (impl->port <= 0) return absl::UnavailableError("cannot serve metrics on " + bind);
  impl->thread = std::thread([&server] { server.listen_after_bind(); });
  // stop() works only once the server runs.
  while (!server.is_running()) std::this_thread::yield();
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
  impl_->server.stop();
  impl_->thread.join();
}

int MetricsServer::port() const { return impl_->port; }

}  // namespace ismscode
