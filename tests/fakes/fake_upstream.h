#pragma once

// A scripted Upstream: answers from what the test set, counts every request, and can
// hold purchases "on the wire" until the test lets them answer, so races between a
// purchase in flight and a cancel, a deadline or a shutdown are tested exactly.
// Thread-safe.
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/upstream_client.h"

namespace ismscode::gateway::fakes {

class FakeUpstream final : public Upstream {
 public:
  using Purchase = UpstreamResult<UpstreamNumber>;

  // The next purchases' answers, in order; once they are used up, every purchase gets a
  // fresh number ("num-1", "num-2", ...) expiring an hour after `epoch`.
  void QueuePurchase(Purchase answer);
  static Purchase Failure(Reason reason, std::optional<std::chrono::milliseconds> retry_after = {});
  // While held, purchases block inside RequestNumber (on the wire) until Release().
  void HoldPurchases();
  void Release();
  // Waits (at most `bound`) until `n` purchases have been sent; false if they were not.
  bool AwaitPurchases(int n, std::chrono::milliseconds bound = std::chrono::seconds(10));

  // The SMS a number has; polls of unknown ids answer NUMBER_NOT_FOUND.
  void SetSms(const std::string& number_id, std::vector<UpstreamSms> sms);
  // The Date header of the SMS lists from now on (none by default).
  void SetDate(SystemTime date);
  // The next polls' failures, in order (then polls succeed again).
  void QueuePollFailure(GatewayError error);
  // The next list calls' failures, in order.
  void QueueListFailure(GatewayError error);

  int purchases() const;
  int polls() const;
  int polls_of(const std::string& number_id) const;
  int list_calls() const;

  UpstreamResult<std::vector<UpstreamCountry>> ListCountries(const std::string& key) override;
  UpstreamResult<std::vector<std::string>> ListServices(const std::string& key) override;
  Purchase RequestNumber(const std::string& key, const std::string& country,
                         const std::string& service) override;
  UpstreamResult<std::vector<UpstreamSms>> ListSms(const std::string& key,
                                                   const std::string& number_id) override;
  void Interrupt() override;

  static inline const SystemTime epoch = SystemTime{} + std::chrono::hours(24 * 365 * 56);

 private:
  template <class T>
  bool ListFailure(UpstreamResult<T>& out);  // REQUIRES: mu_ held

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Purchase> purchases_queued_;
  bool hold_ = false;
  uint64_t releases_ = 0;
  bool interrupted_ = false;
  int purchases_ = 0, polls_ = 0, list_calls_ = 0;
  std::map<std::string, std::vector<UpstreamSms>> sms_;
  std::map<std::string, int> polls_of_;
  std::optional<SystemTime> date_;
  std::deque<GatewayError> poll_failures_, list_failures_;
};

}  // namespace ismscode::gateway::fakes
