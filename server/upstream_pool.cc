#include "server/upstream_pool.h"

#include <algorithm>

namespace ismscode::gateway {

absl::StatusOr<std::unique_ptr<UpstreamPool>> UpstreamPool::Create(const UpstreamConfig& config,
                                                                   size_t size,
                                                                   GatewayMetrics* metrics) {
  auto pool = std::make_unique<UpstreamPool>();
  for (size_t i = 0; i < std::max<size_t>(size, 1); ++i) {
    auto client = UpstreamClient::Create(config, metrics);
    if (!client.ok()) return client.status();
    pool->all_.push_back(client->get());
    MutexLock lock(pool->mutex_);
    pool->idle_.push_back(*std::move(client));
  }
  return pool;
}

UpstreamPool::Lease::Lease(UpstreamPool& pool, std::unique_ptr<UpstreamClient> client)
    : pool_(&pool), client_(std::move(client)) {}

UpstreamPool::Lease::~Lease() {
  if (!client_) return;  // moved from
  {
    MutexLock lock(pool_->mutex_);
    pool_->idle_.push_back(std::move(client_));
  }
  pool_->available_.NotifyOne();
}

UpstreamPool::Lease UpstreamPool::Take() {
  MutexLock lock(mutex_);
  while (idle_.empty()) available_.Wait(mutex_);
  auto client = std::move(idle_.back());
  idle_.pop_back();
  return Lease(*this, std::move(client));
}

void UpstreamPool::Interrupt() {
  closed_ = true;
  // The pool owns every client for its whole life, leased or not.
  for (UpstreamClient* client : all_) client->Interrupt();
}

}  // namespace ismscode::gateway
