#pragma once

#include <cstddef>
#include <deque>
#include <span>
#include <string>
#include <unordered_map>

namespace ismscode::gateway {

// A log-normal distribution of an SMS's delay in seconds: ln(delay) ~ Normal(mu, sigma).
struct LogNormalDelay {
  double mu = 0, sigma = 1;

  double Cdf(double seconds) const;
  double Quantile(double p) const;  // REQUIRES: 0 < p < 1
  // What a poll at `now` is worth, in seconds: given no SMS by `last`, the expected time
  // an SMS has been waiting at `now` (0 if it has not arrived). Both times are seconds
  // since the SMS's origin; never decreases as `now` grows.
  double WaitingSeconds(double last, double now) const;
  // The first time at or after `from` (and no later than `until`) when
  // WaitingSeconds(last, t) reaches `worth`; `until` if it never does by then.
  double WhenWaitingReaches(double last, double worth, double from, double until) const;
};

// How long after its origin (the app sending it) each service's SMS becomes visible
// upstream, learned from the gateway's own deliveries. Each service starts from a prior
// (median 10 s, sigma 0.8: 90% between 2.7 s and 37 s) whose median is worth
// `prior_weight` observations and whose spread is worth one, and is fitted by maximum
// likelihood to its last `memory` observations.
// Numbers that stopped waiting without an SMS, and numbers still waiting, are
// right-censored observations (the SMS comes later than that, if at all), so the first,
// fastest deliveries of a slow service do not fool it. (A service whose SMS never come
// is fitted no slower than a median of an hour.) Not thread-safe.
class SmsDelayModel {
 public:
  struct Options {
    double prior_median_seconds = 10;
    double prior_sigma = 0.8;
    double prior_weight = 1;
    size_t memory = 200;  // observations kept per service
  };

  explicit SmsDelayModel(Options options);

  // An SMS for `service` became visible `seconds` after its origin.
  void Delivered(const std::string& service, double seconds);
  // A number of `service` stopped being watched with no SMS by `seconds` after its origin.
  void Abandoned(const std::string& service, double seconds);
  // The distribution for `service` now, given numbers of that service still waiting
  // with no SMS by the ages in `waiting` (seconds since their origins).
  LogNormalDelay Estimate(const std::string& service, std::span<const double> waiting);
  LogNormalDelay Prior() const;

 private:
  struct Observation {
    double log_seconds;
    bool censored;  // the SMS came later than this, if at all
  };
  struct Service {
    std::deque<Observation> observations;
    LogNormalDelay fitted;  // where the next fit starts
  };
  void Observe(const std::string& service, Observation observation);

  const Options options_;
  std::unordered_map<std::string, Service> services_;
};

}  // namespace ismscode::gateway
