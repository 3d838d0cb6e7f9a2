#pragma once

#include <absl/status/statusor.h>

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
  // Workers answering requests: the pool grows on demand up to max_threads (held and
  // slow faults keep theirs for as long as they last). Over HTTPS cpp-httplib holds a
  // worker for a connection's whole life instead.
  size_t min_threads = 8;
  size_t max_threads = 1024;
  // Plain HTTP: connections open at once (waiting ones cost no thread; past the limit
  // the one waiting longest is dropped, those that never completed a request first),
  // and the bounds on one request.
  size_t max_connections = 4096;
  double request_timeout_seconds = 10;  // first byte to last; slower gets 408
  size_t max_header_bytes = 16 * 1024;  // request line + headers; more gets 431
  size_t max_headers = 100;             // header fields; more gets 431
  size_t max_body_bytes = 1 << 20;      // however framed; larger bodies get 413
  int keep_alive_timeout_seconds = 5;
  size_t keep_alive_max_requests = 100000;
  int read_timeout_seconds = 5;  // also the write timeout
  int listen_backlog = 1024;     // cpp-httplib's compiled-in backlog is 5
};

// Serves a MockService over HTTP(S): plain HTTP requests are read by a ConnectionLoop
// (bounded, framed, with deadlines) and answered by cpp-httplib's request handling on an
// elastic worker pool; HTTPS uses cpp-httplib's own connection handling, tuned as
// DESIGN.md's gotchas require (TCP_NODELAY on, a real listen backlog). Carries out the
// connection-level faults (slow, hang, reset) that the service asks for.
class MockHttpServer {
 public:
  // Binds, starts serving on a background thread and returns once it accepts
  // connections. InvalidArgument for unusable TLS files, Unavailable when it cannot
  // listen. `service` must outlive the server.
  static absl::StatusOr<std::unique_ptr<MockHttpServer>> Start(MockService& service,
                                                               const ServerOptions& options);
  ~MockHttpServer();

  int port() const;
  // Plain HTTP connections open right now (0 over HTTPS). Thread-safe.
  size_t open_connections() const;
  // Plain HTTP connections held back until their client reads its answers. Thread-safe.
  size_t blocked_connections() const;
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
