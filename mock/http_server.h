#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace ismscode::mock {

class MockService;

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (read it back with port())
  // HTTPS when both are set (PEM files).
  std::string tls_cert_file, tls_key_file;
  // cpp-httplib gives each open keep-alive connection a worker thread for its whole
  // life, so the pool grows on demand up to max_threads (about one per client).
  size_t min_threads = 8;
  size_t max_threads = 1024;
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  int keep_alive_timeout_seconds = 5;
  size_t keep_alive_max_requests = 100000;
  int read_timeout_seconds = 5;
  int listen_backlog = 1024;  // cpp-httplib's compiled-in backlog is 5
};

// Serves a MockService over HTTP(S) with cpp-httplib, tuned as DESIGN.md's gotchas
// require (TCP_NODELAY on, an elastic worker pool, a real listen backlog), and carries
// out the connection-level faults (slow, hang, reset) that the service asks for.
class MockHttpServer {
 public:
  // Binds, starts serving on a background thread and returns once it accepts
  // connections; nullptr with `error` set when binding or TLS setup fails.
  static std::unique_ptr<MockHttpServer> Start(MockService& service, const ServerOptions& options,
                                               std::string* error);
  ~MockHttpServer();

  int port() const;
  // "http://127.0.0.1:PORT" (or https://).
  std::string base_url() const;

  // Graceful stop: /healthz turns 503, hung and slow requests are released, the listener
  // closes and the worker threads are joined. Idempotent.
  void Stop();

 private:
  struct Impl;
  explicit MockHttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ismscode::mock
