#include "server/gateway.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_builder.h>

#include <condition_variable>
#include <mutex>

#include "server/acquirer.h"
#include "server/poll_hub.h"
#include "server/rate_budget.h"
#include "server/scheduler.h"
#include "server/verification_service.h"

namespace ismscode::gateway {

// Members are declared in dependency order: destruction runs the other way.
struct Gateway::Impl {
  GatewayOptions options;
  WorkerPool workers;
  Scheduler scheduler;
  RateBudget budget;
  std::unique_ptr<UpstreamPool> upstream;
  std::unique_ptr<Acquirer> acquirer;
  std::unique_ptr<PollHub> hub;
  std::unique_ptr<VerificationService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::once_flag shutdown_once;
  // Retry pauses of AcquireNumber wait here, so that shutdown cuts them short.
  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  bool stopping = false;

  explicit Impl(const GatewayOptions& o)
      : options(o),
        workers(o.workers),
        budget({.requests_per_minute = o.requests_per_minute,
                .burst = std::max(1.0, o.requests_per_minute / 6)}) {}
};

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() { Shutdown(); }

std::unique_ptr<Gateway> Gateway::Start(const GatewayOptions& options, std::string* error) {
  auto impl = std::make_unique<Impl>(options);
  Impl* i = impl.get();
  i->upstream = UpstreamPool::Create(options.upstream, options.workers, error);
  if (!i->upstream) return nullptr;
  i->acquirer = std::make_unique<Acquirer>(
      *i->upstream, i->budget, Acquirer::Options{},
      [i](std::chrono::steady_clock::duration d) {
        std::unique_lock lock(i->stop_mutex);
        i->stop_cv.wait_for(lock, d, [i] { return i->stopping; });
      },
      [] { return std::chrono::steady_clock::now(); });
  i->hub = std::make_unique<PollHub>(*i->upstream, i->budget, i->scheduler, i->workers,
                                     PollHub::Options{.interval = options.poll_interval});
  i->service = std::make_unique<VerificationService>(
      *i->upstream, *i->acquirer, *i->hub, i->scheduler, i->workers,
      VerificationService::Options{.upstream_key = options.upstream_key,
                                   .default_timeout = options.default_await_timeout});

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, grpc::InsecureServerCredentials(), &i->port);
  builder.RegisterService(i->service.get());
  i->server = builder.BuildAndStart();
  if (!i->server || i->port == 0) {
    *error = "cannot listen on " + options.listen;
    return nullptr;
  }
  i->server->GetHealthCheckService()->SetServingStatus(true);
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

int Gateway::port() const { return impl_->port; }

void Gateway::Shutdown(std::chrono::milliseconds grace) {
  Impl* i = impl_.get();
  std::call_once(i->shutdown_once, [i, grace] {
    i->server->GetHealthCheckService()->SetServingStatus(false);
    {
      std::lock_guard lock(i->stop_mutex);
      i->stopping = true;
    }
    i->stop_cv.notify_all();
    i->service->Drain();
    // Wait for the calls in progress (at most `grace`), then shut down at once: idle
    // client connections would otherwise hold Shutdown() until its deadline.
    i->service->WaitIdle(std::chrono::steady_clock::now() + grace);
    i->server->Shutdown(std::chrono::system_clock::now());
    i->scheduler.Stop();
    i->workers.Stop();
  });
}

}  // namespace ismscode::gateway
