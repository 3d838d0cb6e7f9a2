#pragma once

#include <absl/status/statusor.h>

#include <functional>
#include <memory>
#include <string>

namespace ismscode {

// A small HTTP server that answers GET /metrics with what `render` returns (the
// Prometheus text format) and 404 to anything else. cpp-httplib rather than
// prometheus-cpp's civetweb exposer, which takes up to 2 s to stop.
class MetricsServer {
 public:
  // Listens on `bind` ("127.0.0.1:9464"; port 0 picks one) and serves until destroyed.
  // `render` is called on the server's threads, concurrently, for as long as the server
  // lives. InvalidArgument for a malformed address, Unavailable when it cannot listen.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& bind,
                                                              std::function<std::string()> render);
  ~MetricsServer();  // stops listening and joins the server thread

  int port() const;

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ismscode
