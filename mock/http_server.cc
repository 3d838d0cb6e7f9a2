#include "mock/http_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <httplib.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <thread>

#include "common/mutex.h"
#include "mock/connection_loop.h"
#include "mock/json_fields.h"
#include "mock/service.h"

namespace ismscode::mock {

namespace {

// A worker pool that grows on demand, up to max_threads: a held or slow request (a fault)
// keeps its worker, and over HTTPS cpp-httplib holds one for a connection's whole life.
// Threads are kept until shutdown; jobs enqueued after it are dropped.
class ElasticThreadPool final : public httplib::TaskQueue {
 public:
  ElasticThreadPool(size_t min_threads, size_t max_threads) : max_threads_(max_threads) {
    MutexLock lock(mutex_);
    for (size_t i = 0; i < min_threads; ++i) Spawn();
  }
  ~ElasticThreadPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    MutexLock lock(mutex_);
    if (shutdown_) return;
    jobs_.push_back(std::move(fn));
    if (jobs_.size() > idle_ && threads_.size() < max_threads_) {
      try {
        Spawn();
      } catch (const std::system_error&) {
        // Out of threads (a process or pid limit): the workers there are take the job.
      }
    }
    cond_.NotifyOne();
  }

  void shutdown() override {
    std::vector<std::thread> threads;
    {
      MutexLock lock(mutex_);
      if (shutdown_) return;
      shutdown_ = true;
      threads.swap(threads_);
    }
    cond_.NotifyAll();
    for (std::thread& t : threads) t.join();
  }

 private:
  void Spawn() REQUIRES(mutex_) {
    threads_.emplace_back([this] { Work(); });
  }

  void Work() {
    for (;;) {
      std::function<void()> job;
      {
        MutexLock lock(mutex_);
        ++idle_;
        while (!shutdown_ && jobs_.empty()) cond_.Wait(mutex_);
        --idle_;
        if (jobs_.empty()) return;  // shutdown, nothing left to do
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  const size_t max_threads_;
  Mutex mutex_;
  CondVar cond_;
  std::deque<std::function<void()>> jobs_ GUARDED_BY(mutex_);
  std::vector<std::thread> threads_ GUARDED_BY(mutex_);
  size_t idle_ GUARDED_BY(mutex_) = 0;
  bool shutdown_ GUARDED_BY(mutex_) = false;
};

std::string AddressOf(const sockaddr_storage& ss, int* port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    *port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    *port = ntohs(in6->sin6_port);
  } else {
    *port = -1;
  }
  return buf;
}

// Gives access to what cpp-httplib keeps protected: the listening socket (to widen its
// compiled-in backlog of 5) and the handling of one request read by someone else.
template <class Base>
class TunedServer : public Base {
 public:
  using Base::Base;
  void WidenBacklog(int backlog) { ::listen(this->svr_sock_, backlog); }
  // Routes and answers the one request `stream` holds. False when the answer could not
  // be written; `client_closes` is set when the client asked to close.
  bool Process(httplib::Stream& stream, bool last, bool* client_closes) {
    bool closed = false;
    const bool ok = this->process_request(stream, last, closed, nullptr);
    *client_closes = closed;
    return ok;
  }
};

// A request the ConnectionLoop has already read whole, served to cpp-httplib's parser
// from memory; the answer goes to the (non-blocking) socket within one deadline for the
// whole answer (cpp-httplib writes it in several calls).
class BufferedStream final : public httplib::Stream {
 public:
  BufferedStream(int fd, std::string_view request, std::chrono::milliseconds write_timeout)
      : fd_(fd), request_(request), deadline_(std::chrono::steady_clock::now() + write_timeout) {}

  bool is_readable() const override { return pos_ < request_.size(); }
  bool is_writable() const override { return true; }  // write() waits, within its timeout

  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, request_.size() - pos_);
    std::memcpy(ptr, request_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::send(fd_, ptr + done, size - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(
          deadline_ - std::chrono::steady_clock::now());
      if (left.count() <= 0) return -1;  // the client stopped reading
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    port = -1;
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) ip = AddressOf(ss, &port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    port = -1;
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) ip = AddressOf(ss, &port);
  }
  socket_t socket() const override { return fd_; }

 private:
  const int fd_;
  const std::string_view request_;
  const std::chrono::steady_clock::time_point deadline_;
  size_t pos_ = 0;
};

// One accepted TCP connection of this process, as seen from our side.
struct Connection {
  int fd;
  int local_port, peer_port;
  std::string peer_addr;
};

// Calls `visit` for every connected socket of this process until it returns true.
// cpp-httplib keeps its sockets to itself; only faults and Stop() need them, so a scan
// of our descriptors is fine.
template <class Visit>
void ForEachConnection(Visit visit) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    if (fd <= 2) continue;
    sockaddr_storage local{}, peer{};
    socklen_t len = sizeof local;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) != 0) continue;
    len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    Connection c{fd, -1, -1, {}};
    AddressOf(local, &c.local_port);
    c.peer_addr = AddressOf(peer, &c.peer_port);
    if (visit(c)) break;
  }
  closedir(dir);
}

// The socket of the connection that carried `req`, or -1.
int FindConnectionSocket(const httplib::Request& req) {
  int found = -1;
  ForEachConnection([&](const Connection& c) {
    if (c.local_port == req.local_port && c.peer_port == req.remote_port &&
        c.peer_addr == req.remote_addr) {
      found = c.fd;
    }
    return found >= 0;
  });
  return found;
}

// Ends every connection accepted on `port`: cpp-httplib's workers otherwise sit out
// their keep-alive timeout on stop.
void ShutdownConnections(int port) {
  ForEachConnection([port](const Connection& c) {
    if (c.local_port == port) shutdown(c.fd, SHUT_RDWR);
    return false;
  });
}

// Sends a TCP RST now: connect(AF_UNSPEC) disconnects the socket without closing the
// descriptor, which cpp-httplib still owns and closes later.
void ResetConnection(int fd) {
  if (fd < 0) return;
  linger lg{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  connect(fd, &unspec, sizeof unspec);
}

// A worker answers at most this many requests of one connection in a row before the
// loop takes it back, and waits this long for the next one.
constexpr int kRequestsInARow = 64;
constexpr auto kNextRequestWait = std::chrono::milliseconds(1);

struct StatusText {
  const char* code;
  const char* message;
};

StatusText TextForStatus(int status) {
  switch (status) {
    case 404:
      return {"not_found", "No such endpoint."};
    case 405:
      return {"method_not_allowed", "Method not allowed."};
    case 413:
      return {"payload_too_large", "The request body is too large."};
    case 414:
      return {"uri_too_long", "The request URI is too long."};
    case 416:
      return {"range_not_satisfiable", "Range requests are not supported."};
    default:
      if (status >= 500) return {"internal_error", "Internal error."};
      return {"bad_request", "The request could not be parsed."};
  }
}

}  // namespace

struct MockHttpServer::Impl {
  MockService& service;
  ServerOptions options;
  std::unique_ptr<httplib::Server> server;
  // Plain HTTP: the loop reads requests, the pool answers them. HTTPS: cpp-httplib's
  // own accept loop on `thread`, a worker per connection.
  std::unique_ptr<ConnectionLoop> loop;
  std::unique_ptr<ElasticThreadPool> pool;
  std::thread thread;
  int port = 0;
  int stop_event = -1;  // eventfd, readable once stopping: wakes held requests
  std::once_flag stopped;

  Impl(MockService& s, ServerOptions o) : service(s), options(std::move(o)) {}
  ~Impl() {
    if (stop_event >= 0) close(stop_event);
  }

  // Waits until the peer hangs up, the server stops, or `seconds` pass. Returns true
  // when the peer is still there.
  bool Hold(int fd, double seconds) {
    pollfd fds[2] = {{stop_event, POLLIN, 0}, {fd, POLLRDHUP, 0}};
    const int nfds = fd >= 0 ? 2 : 1;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    for (;;) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return true;
      const int n = poll(fds, nfds, static_cast<int>(std::min<int64_t>(left.count(), INT32_MAX)));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return n == 0;
      if (fds[0].revents) return false;
      if (nfds == 2 && fds[1].revents) return false;
    }
  }

  void Serve(const httplib::Request& req, httplib::Response& res) {
    // Views into cpp-httplib's request, which outlives this call: no copies.
    auto header = [&req](const std::string& name) -> std::string_view {
      auto it = req.headers.find(name);
      return it == req.headers.end() ? std::string_view() : std::string_view(it->second);
    };
    HttpRequest in;
    in.method = req.method;
    in.path = req.path;
    in.authorization = header("Authorization");
    in.api_key = header("API-Key");
    in.content_type = header("Content-Type");
    in.body = req.body;
    for (const auto& [k, v] : req.params) in.query.emplace_back(k, v);

    HttpResponse out = service.Handle(in);
    switch (out.disruption) {
      case Disruption::kNone:
        break;
      case Disruption::kSlow:
        Hold(FindConnectionSocket(req), out.disruption_seconds);
        break;
      case Disruption::kHang: {
        const int fd = FindConnectionSocket(req);
        Hold(fd, out.disruption_seconds);
        ResetConnection(fd);
        return;
      }
      case Disruption::kReset:
        ResetConnection(FindConnectionSocket(req));
        return;
    }
    res.status = out.status;
    for (auto& [k, v] : out.headers) res.set_header(k, v);
    res.set_content(std::move(out.body), out.content_type);
  }

  // Fills the JSON error body for answers cpp-httplib produces itself (400, 413, 414).
  void ErrorBody(const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const StatusText text = TextForStatus(res.status);
    const nlohmann::ordered_json body = {
        {"status", "error"}, {"code", text.code}, {"message", text.message}};
    res.set_content(SafeDump(body), "application/json");
    service.metrics().CountRequest("unknown", res.status);
  }
};

MockHttpServer::MockHttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MockHttpServer::~MockHttpServer() { Stop(); }

absl::StatusOr<std::unique_ptr<MockHttpServer>> MockHttpServer::Start(
    MockService& service, const ServerOptions& options) {
  // A reset connection makes a later write raise SIGPIPE; a server must not die of a
  // client going away.
  std::signal(SIGPIPE, SIG_IGN);

  auto impl = std::make_unique<Impl>(service, options);
  const bool tls = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  const size_t min_threads = std::min(options.min_threads, options.max_threads);
  const size_t max_threads = options.max_threads;
  auto configure = [&](auto& server) {
    server.set_tcp_nodelay(true);
    // cpp-httplib's default sets SO_REUSEPORT, which lets a second server bind the same
    // port and silently take half the traffic. Reuse of TIME_WAIT addresses is enough.
    server.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server.set_keep_alive_max_count(options.keep_alive_max_requests);
    server.set_keep_alive_timeout(options.keep_alive_timeout_seconds);
    server.set_read_timeout(options.read_timeout_seconds, 0);
    server.set_write_timeout(options.read_timeout_seconds, 0);
    server.set_payload_max_length(options.max_body_bytes);
    server.new_task_queue = [min_threads, max_threads] {
      return new ElasticThreadPool(min_threads, max_threads);
    };
    Impl* self = impl.get();
    auto handler = [self](const httplib::Request& req, httplib::Response& res) {
      self->Serve(req, res);
    };
    server.Get(".*", handler);
    server.Post(".*", handler);
    server.Put(".*", handler);
    server.Patch(".*", handler);
    server.Delete(".*", handler);
    server.Options(".*", handler);
    server.set_error_handler(
        [self](const httplib::Request& req, httplib::Response& res) { self->ErrorBody(req, res); });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res,
                                    std::exception_ptr) {
      res.status = 500;
      res.set_content(R"({"status":"error","code":"internal_error","message":"Internal error."})",
                      "application/json");
    });
  };

  if (!tls) {
    auto server = std::make_unique<TunedServer<httplib::Server>>();
    configure(*server);
    auto listener = ListenTcp(options.host, options.port, options.listen_backlog);
    if (!listener.ok()) return listener.status();
    impl->port = LocalPort(*listener);
    impl->stop_event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    impl->pool = std::make_unique<ElasticThreadPool>(min_threads, max_threads);
    ConnectionLimits limits;
    limits.max_connections = options.max_connections;
    limits.request_timeout =
        std::chrono::milliseconds(static_cast<int64_t>(options.request_timeout_seconds * 1000));
    limits.idle_timeout = std::chrono::seconds(options.keep_alive_timeout_seconds);
    limits.max_requests_per_connection = options.keep_alive_max_requests;
    limits.framing.max_body_bytes = options.max_body_bytes;
    limits.framing.max_head_bytes = options.max_header_bytes;
    limits.framing.max_headers = options.max_headers;
    const auto write_timeout = std::chrono::seconds(options.read_timeout_seconds);
    TunedServer<httplib::Server>* http = server.get();
    ElasticThreadPool* pool = impl->pool.get();
    auto dispatch = [http, pool, write_timeout](ReadyRequest request, ConnectionLoop& loop) {
      pool->enqueue([http, request, write_timeout, &loop]() mutable {
        // A busy keep-alive client's next request is answered on this worker, up to a
        // fair share; then, or when it is slow to come, the loop takes the connection back.
        for (int in_a_row = 1;; ++in_a_row) {
          BufferedStream stream(request.fd, request.bytes(), write_timeout);
          bool client_closes = false;
          const bool written = http->Process(stream, request.last, &client_closes);
          const bool keep_alive = written && !client_closes && !request.last;
          if (!keep_alive || in_a_row >= kRequestsInARow ||
              !loop.TakeNextOnWorker(request, kNextRequestWait)) {
            loop.Release(request, keep_alive);
            return;
          }
        }
      });
    };
    Impl* self = impl.get();
    auto answered = [self](int status) { self->service.metrics().CountRequest("unknown", status); };
    auto loop = ConnectionLoop::Start(*listener, limits, std::move(dispatch), std::move(answered));
    if (!loop.ok()) return loop.status();
    impl->server = std::move(server);
    impl->loop = *std::move(loop);
    return std::unique_ptr<MockHttpServer>(new MockHttpServer(std::move(impl)));
  }

  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("HTTPS needs both a certificate file and a key file");
  }
  auto server = std::make_unique<TunedServer<httplib::SSLServer>>(options.tls_cert_file.c_str(),
                                                                  options.tls_key_file.c_str());
  if (!server->is_valid()) {
    return absl::InvalidArgumentError("cannot load the TLS certificate '" + options.tls_cert_file +
                                      "' or key '" + options.tls_key_file +
                                      "' (PEM files, matching pair)");
  }
  configure(*server);
  const int bound = options.port == 0
                        ? server->bind_to_any_port(options.host)
                        : (server->bind_to_port(options.host, options.port) ? options.port : -1);
  if (bound < 0) {
    return absl::UnavailableError("cannot listen on " + options.host + ":" +
                                  std::to_string(options.port) + ": " + std::strerror(errno));
  }
  server->WidenBacklog(options.listen_backlog);
  impl->server = std::move(server);
  impl->port = bound;
  impl->stop_event = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  httplib::Server* raw = impl->server.get();
  auto finished = std::make_shared<std::atomic<bool>>(false);
  impl->thread = std::thread([raw, finished] {
    raw->listen_after_bind();
    *finished = true;
  });
  // The socket already accepts into its backlog; wait until the loop runs so that
  // stop() (which needs is_running()) works from here on.
  while (!raw->is_running() && !*finished) std::this_thread::yield();
  return std::unique_ptr<MockHttpServer>(new MockHttpServer(std::move(impl)));
}

int MockHttpServer::port() const { return impl_->port; }

size_t MockHttpServer::open_connections() const {
  return impl_->loop ? impl_->loop->open_connections() : 0;
}

size_t MockHttpServer::blocked_connections() const {
  return impl_->loop ? impl_->loop->blocked_connections() : 0;
}

std::string MockHttpServer::base_url() const {
  const bool tls = !impl_->options.tls_cert_file.empty();
  std::string host = impl_->options.host;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(impl_->port);
}

void MockHttpServer::Stop() {
  std::call_once(impl_->stopped, [this] {
    impl_->service.SetDraining(true);
    const uint64_t one = 1;
    if (write(impl_->stop_event, &one, sizeof one) < 0) {
      // Nothing to release: the eventfd cannot fail here short of a broken descriptor.
    }
    if (impl_->loop) {
      impl_->loop->Stop();               // no new connections or requests
      ShutdownConnections(impl_->port);  // workers blocked writing give up
      impl_->pool->shutdown();
    } else {
      impl_->server->stop();
      ShutdownConnections(impl_->port);
      if (impl_->thread.joinable()) impl_->thread.join();
    }
  });
}

}  // namespace ismscode::mock
