#include "tests/fakes/fake_upstream.h"

namespace ismscode::gateway::fakes {

FakeUpstream::Purchase FakeUpstream::Failure(Reason reason,
                                             std::optional<std::chrono::milliseconds> retry_after) {
  Purchase p;
  p.error = GatewayError{.reason = reason, .message = "scripted", .retry_after = retry_after};
  return p;
}

void FakeUpstream::QueuePurchase(Purchase answer) {
  std::lock_guard lock(mu_);
  purchases_queued_.push_back(std::move(answer));
}

void FakeUpstream::HoldPurchases() {
  std::lock_guard lock(mu_);
  hold_ = true;
}

void FakeUpstream::Release() {
  {
    std::lock_guard lock(mu_);
    hold_ = false;
    ++releases_;
  }
  changed_.notify_all();
}

bool FakeUpstream::AwaitPurchases(int n, std::chrono::milliseconds bound) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, bound, [&] { return purchases_ >= n; });
}

void FakeUpstream::SetSms(const std::string& number_id, std::vector<UpstreamSms> sms) {
  std::lock_guard lock(mu_);
  sms_[number_id] = std::move(sms);
}

void FakeUpstream::QueuePollFailure(GatewayError error) {
  std::lock_guard lock(mu_);
  poll_failures_.push_back(std::move(error));
}

void FakeUpstream::QueueListFailure(GatewayError error) {
  std::lock_guard lock(mu_);
  list_failures_.push_back(std::move(error));
}

int FakeUpstream::purchases() const {
  std::lock_guard lock(mu_);
  return purchases_;
}
int FakeUpstream::polls() const {
  std::lock_guard lock(mu_);
  return polls_;
}
int FakeUpstream::list_calls() const {
  std::lock_guard lock(mu_);
  return list_calls_;
}

template <class T>
bool FakeUpstream::ListFailure(UpstreamResult<T>& out) {
  ++list_calls_;
  if (list_failures_.empty()) return false;
  out.error = list_failures_.front();
  list_failures_.pop_front();
  return true;
}

UpstreamResult<std::vector<UpstreamCountry>> FakeUpstream::ListCountries(const std::string&) {
  std::lock_guard lock(mu_);
  UpstreamResult<std::vector<UpstreamCountry>> out;
  if (!ListFailure(out)) {
    out.value = {{"US", "United States", "+1"}, {"GB", "United Kingdom", "+44"}};
  }
  return out;
}

UpstreamResult<std::vector<std::string>> FakeUpstream::ListServices(const std::string&) {
  std::lock_guard lock(mu_);
  UpstreamResult<std::vector<std::string>> out;
  if (!ListFailure(out)) out.value = {"google", "whatsapp"};
  return out;
}

FakeUpstream::Purchase FakeUpstream::RequestNumber(const std::string&, const std::string& country,
                                                   const std::string& service) {
  std::unique_lock lock(mu_);
  const int n = ++purchases_;
  changed_.notify_all();
  if (hold_) {
    // On the wire until the test releases it (or a shutdown interrupts it); bounded so
    // that a broken test fails instead of hanging.
    const uint64_t seen = releases_;
    changed_.wait_for(lock, std::chrono::seconds(30),
                      [&] { return releases_ != seen || interrupted_; });
    if (interrupted_) {
      return Failure(Reason::kUpstreamTimeout);
    }
  }
  if (!purchases_queued_.empty()) {
    Purchase p = std::move(purchases_queued_.front());
    purchases_queued_.pop_front();
    return p;
  }
  Purchase p;
  p.value = UpstreamNumber{.id = "num-" + std::to_string(n),
                           .phone = "+1202555" + std::to_string(1000 + n),
                           .country = country,
                           .service = service,
                           .expires_at = epoch + std::chrono::hours(1)};
  p.upstream_date = epoch;
  return p;
}

UpstreamResult<std::vector<UpstreamSms>> FakeUpstream::ListSms(const std::string&,
                                                               const std::string& number_id) {
  std::lock_guard lock(mu_);
  ++polls_;
  ++polls_of_[number_id];
  UpstreamResult<std::vector<UpstreamSms>> out;
  if (!poll_failures_.empty()) {
    out.error = poll_failures_.front();
    poll_failures_.pop_front();
    return out;
  }
  out.upstream_date = date_;
  auto it = sms_.find(number_id);
  if (it == sms_.end()) {
    out.error = GatewayError{.reason = Reason::kNumberNotFound, .message = "scripted"};
  } else {
    out.value = it->second;
  }
  return out;
}

int FakeUpstream::polls_of(const std::string& number_id) const {
  std::lock_guard lock(mu_);
  auto it = polls_of_.find(number_id);
  return it == polls_of_.end() ? 0 : it->second;
}

void FakeUpstream::SetDate(SystemTime date) {
  std::lock_guard lock(mu_);
  date_ = date;
}

void FakeUpstream::Interrupt() {
  {
    std::lock_guard lock(mu_);
    interrupted_ = true;
  }
  changed_.notify_all();
}

}  // namespace ismscode::gateway::fakes
