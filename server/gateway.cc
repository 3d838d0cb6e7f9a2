#include "server/gateway.h"

#include <google/protobuf/descriptor.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <random>

#include "common/log.h"
#include "server/acquirer.h"
#include "server/budget_gate.h"
#include "server/call_observer.h"
#include "server/list_cache.h"
#include "server/poll_hub.h"
#include "server/rate_budget.h"
#include "server/scheduler.h"
#include "server/state_store.h"
#include "server/upstream_pool.h"
#include "server/verification_service.h"

namespace ismscode::gateway {

// Members are declared in dependency order: destruction runs the other way.
struct Gateway::Impl {
  GatewayOptions options;
  GatewayMetrics metrics;
  WorkerPool workers;
  Scheduler scheduler;
  Runtime runtime;
  RateBudget budget;
  std::unique_ptr<StateStore> state;  // --state only
  std::unique_ptr<BudgetGate> gate;
  std::unique_ptr<UpstreamPool> upstream;
  std::unique_ptr<Acquirer> acquirer;
  std::unique_ptr<PollHub> hub;
  std::unique_ptr<ListCache> lists;
  std::unique_ptr<VerificationService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
  std::once_flag shutdown_once;
  Mutex health_mutex;
  bool shutting_down GUARDED_BY(health_mutex) = false;

  // --state: health follows the state store, checked every second on a worker.
  void CheckStateLater() {
    runtime.at(runtime.now() + std::chrono::seconds(1), [this] {
      runtime.run([this] {
        const bool up = state->Check().ok();
        {
          MutexLock lock(health_mutex);
          if (shutting_down) return;
          server->GetHealthCheckService()->SetServingStatus(up);
        }
        CheckStateLater();
      });
    });
  }

  // The state store's listener calls into the hub: it stops first, whatever else does.
  ~Impl() {
    if (state) state->StopListening();
  }

  explicit Impl(const GatewayOptions& o)
      : options(o),
        workers(o.workers),
        runtime(MakeRuntime(scheduler, workers)),
        budget({.limit = o.rate_limit,
                .window = std::chrono::duration_cast<RateBudget::Clock::duration>(o.rate_window)}) {
  }
};

namespace {
// A fleet's replicas each need their own name, and a restarted one a new one (its old
// leases are not its own any more).
std::string NewReplicaName() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !host[0])
    std::snprintf(host, sizeof host, "gateway");
  char suffix[17];
  std::snprintf(
      suffix, sizeof suffix, "%016llx",
      static_cast<unsigned long long>(std::random_device{}()) << 32 ^ std::random_device{}());
  return std::string(host) + "-" + std::to_string(getpid()) + "-" + suffix;
}
}  // namespace

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Gateway::~Gateway() { Shutdown(); }

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(const GatewayOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  Impl* i = impl.get();
  if (options.tls_cert_chain.empty() != options.tls_private_key.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate chain and a private key");
  }
  if (!options.metrics_listen.empty()) {
    if (absl::Status served = i->metrics.Serve(options.metrics_listen); !served.ok()) return served;
  }
  // The service's series exist from the start, at zero (go-grpc-prometheus does this).
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      harness::v1::VerificationService::service_full_name());
  for (int m = 0; service && m < service->method_count(); ++m) {
    const auto* method = service->method(m);
    i->metrics.InitializeMethod(method->server_streaming() ? "server_stream" : "unary",
                                "/" + service->full_name() + "/" + method->name());
  }
  auto upstream = UpstreamPool::Create(options.upstream, options.workers, &i->metrics);
  if (!upstream.ok()) return upstream.status();
  i->upstream = *std::move(upstream);
  if (options.state) {
    i->state = std::make_unique<StateStore>(
        StateStore::Options{
            .url = *options.state,
            .password = options.state_password,
            .replica = options.replica.empty() ? NewReplicaName() : options.replica,
            .budget = {.limit = options.rate_limit,
                       .window = std::chrono::duration_cast<RateBudget::Clock::duration>(
                           options.rate_window)},
            // cpp-httplib's timeouts are per step: connect, write (the read timeout's
            // length), read, and a margin.
            .upstream_timeout = options.upstream.connect_timeout +
                                2 * options.upstream.read_timeout + std::chrono::seconds(5),
            // Renewed at least every poll interval (and every heartbeat) while it polls.
            .poll_lease = std::max(std::chrono::milliseconds(15000), 3 * options.poll_interval)},
        &i->metrics);
    const absl::Status reached = i->state->Check();
    LogLine(reached.ok() ? "info" : "warning", "sharing state with the fleet",
            {{"state", i->state->Describe()},
             {"replica", i->state->replica()},
             {"reachable", reached.ok()},
             {"error", std::string(reached.message())}});
  }
  KeyBudget& budget = i->state ? i->state->budget() : static_cast<KeyBudget&>(i->budget);
  i->gate = std::make_unique<BudgetGate>(budget, i->runtime, &i->metrics);
  Acquirer::Options acquiring;
  if (i->state) {
    acquiring.shared_ids = &i->state->request_ids();
    acquiring.shared_lease = i->state->purchase_lease();
  }
  i->acquirer = std::make_unique<Acquirer>(*i->upstream, *i->gate, acquiring, i->runtime);
  PollHub::Options polling{.interval = options.poll_interval,
                           .policy = options.poll_policy,
                           .max_gap = options.poll_max_gap,
                           .worth_seconds = options.poll_worth_seconds};
  if (i->state) {
    polling.shared = &i->state->poll_loops();
    polling.waiting_reason = [state = i->state.get()] {
      return state->up() ? std::string()
                         : std::string(ReasonName(Reason::kStateUnavailable)) + ": " +
                               StateUnavailableError().message;
    };
  }
  i->hub = std::make_unique<PollHub>(*i->upstream, *i->gate, i->runtime, std::move(polling),
                                     &i->metrics);
  if (i->state) {
    i->state->Listen([hub = i->hub.get()](const std::string& id) { hub->PublishedElsewhere(id); },
                     [hub = i->hub.get()] { hub->PublishedElsewhereMaybe(); });
  }
  i->lists = std::make_unique<ListCache>(
      *i->upstream, *i->gate, i->runtime,
      ListCache::Options{.ttl = options.list_cache_ttl,
                         .on_new_service = [metrics = &i->metrics](const std::string& service) {
                           metrics->InitializeService(service);
                         }});
  i->service = std::make_unique<VerificationService>(
      *i->acquirer, *i->hub, *i->lists, i->scheduler, i->metrics,
      VerificationService::Options{.upstream_key = options.upstream_key,
                                   .default_timeout = options.default_await_timeout,
                                   .caller_tokens = options.caller_tokens,
                                   .allow_caller_keys = options.allow_caller_keys,
                                   .shared_numbers = i->state ? &i->state->numbers() : nullptr,
                                   .runtime = i->runtime});

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert_chain.empty()) {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({options.tls_private_key, options.tls_cert_chain});
    credentials = grpc::SslServerCredentials(ssl);
  }
  builder.AddListeningPort(options.listen, credentials, &i->port);
  builder.RegisterService(i->service.get());
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> observers;
  observers.push_back(NewCallObserverFactory(i->metrics, options.log_calls));
  builder.experimental().SetInterceptorCreators(std::move(observers));
  i->server = builder.BuildAndStart();
  if (!i->server || i->port == 0) {
    return absl::UnavailableError("cannot listen on " + options.listen);
  }
  i->server->GetHealthCheckService()->SetServingStatus(!i->state || i->state->up());
  if (i->state) i->CheckStateLater();
  if (options.prefetch_lists && !options.upstream_key.empty()) {
    i->lists->Prefetch(options.upstream_key);
  }
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

int Gateway::port() const { return impl_->port; }

int Gateway::metrics_port() const { return impl_->metrics.port(); }

const GatewayMetrics& Gateway::metrics() const { return impl_->metrics; }

void Gateway::Shutdown(std::chrono::milliseconds grace) {
  Impl* i = impl_.get();
  std::call_once(i->shutdown_once, [i, grace] {
    {
      MutexLock lock(i->health_mutex);
      i->shutting_down = true;
      i->server->GetHealthCheckService()->SetServingStatus(false);
    }
    if (i->state) i->state->StopListening();  // it calls into the hub
    i->service->Drain();
    // Nothing new goes upstream: purchases not yet sent end with SHUTTING_DOWN, and so
    // does everything waiting for budget.
    i->acquirer->Stop();
    i->gate->Stop();
    // Purchases on the wire get `grace` to come back with their number; what is still
    // in flight then is interrupted, and its caller told before the server goes.
    // Then whatever is still in flight upstream (polls, a purchase whose caller left,
    // list fetches) is interrupted and nothing more is sent, so the workers stop now.
    const bool idle = i->service->WaitIdle(std::chrono::steady_clock::now() + grace);
    i->upstream->Interrupt();
    if (!idle) {
      i->service->WaitIdle(std::chrono::steady_clock::now() + std::chrono::milliseconds(500));
    }
    // Then at once: idle client connections would otherwise hold Shutdown() until its
    // deadline.
    i->server->Shutdown(std::chrono::system_clock::now());
    i->scheduler.Stop();
    i->workers.Stop();
  });
}

}  // namespace ismscode::gateway
