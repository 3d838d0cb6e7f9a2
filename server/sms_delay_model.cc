#include "server/sms_delay_model.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace ismscode::gateway {

namespace {

double NormalCdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
// 1 - NormalCdf(x), without the cancellation that makes it 0 or noise beyond x = 8.
double NormalTail(double x) { return 0.5 * std::erfc(x / std::sqrt(2.0)); }
double NormalPdf(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); }

// The fit's bounds: sigma 0.05 is a delay known to 5%; 3 is no knowledge at all.
constexpr double kMinSigma = 0.05, kMaxSigma = 3;
// Each Estimate() runs this many EM steps from the last fit: the fit moves with the data
// a little at every call, and the callers call often.
constexpr int kEmSteps = 4;
// Only censored observations (SMS that never come) would drive the fit without bound.
const double kMaxMu = std::log(3600.0);
// A number waiting for less than this says nothing about its service's delay.
constexpr double kLeastCensoredSeconds = 0.5;

}  // namespace

double LogNormalDelay::Cdf(double seconds) const {
  if (seconds <= 0) return 0;
  return NormalCdf((std::log(seconds) - mu) / sigma);
}

double LogNormalDelay::Quantile(double p) const {
  // Bisection on the standard normal: exact enough, and only metrics and tests call it.
  double lo = -40, hi = 40;
  for (int i = 0; i < 100; ++i) {
    const double mid = (lo + hi) / 2;
    (NormalCdf(mid) < p ? lo : hi) = mid;
  }
  return std::exp(mu + sigma * (lo + hi) / 2);
}

double LogNormalDelay::WaitingSeconds(double last, double now) const {
  last = std::max(last, 0.0);
  if (now <= last) return 0;
  const double survived = last <= 0 ? 1.0 : NormalTail((std::log(last) - mu) / sigma);
  // The model was sure the SMS had come by `last`, and it had not: the model is wrong,
  // and the SMS, if it is there, came at some point since `last`.
  if (survived < 1e-9) return (now - last) / 2;
  // E[(now - S)+ ; last < S <= now] for S log-normal, where the partial mean of S over
  // (a, b] is e^(mu + sigma^2 / 2) * [Phi((ln b - mu - sigma^2) / sigma) - Phi(...a...)].
  auto shifted = [&](double t) {
    return t <= 0 ? 0.0 : NormalCdf((std::log(t) - mu - sigma * sigma) / sigma);
  };
  const double partial_mean = std::exp(mu + sigma * sigma / 2) * (shifted(now) - shifted(last));
  const double waited = now * (Cdf(now) - Cdf(last)) - partial_mean;
  return std::max(0.0, waited) / survived;
}

double LogNormalDelay::WhenWaitingReaches(double last, double worth, double from,
                                          double until) const {
  if (from >= until || WaitingSeconds(last, from) >= worth) return std::min(from, until);
  if (WaitingSeconds(last, until) < worth) return until;
  for (int i = 0; i < 50 && until - from > 1e-3; ++i) {
    const double mid = (from + until) / 2;
    (WaitingSeconds(last, mid) < worth ? from : until) = mid;
  }
  return until;
}

SmsDelayModel::SmsDelayModel(Options options) : options_(options) {}

LogNormalDelay SmsDelayModel::Prior() const {
  return {.mu = std::log(options_.prior_median_seconds), .sigma = options_.prior_sigma};
}

void SmsDelayModel::Delivered(const std::string& service, double seconds) {
  // received_at has whole-second resolution upstream: a delay under a second is "soon".
  Observe(service, {.log_seconds = std::log(std::max(seconds, 0.25)), .censored = false});
}

void SmsDelayModel::Abandoned(const std::string& service, double seconds) {
  if (seconds < kLeastCensoredSeconds) return;
  Observe(service, {.log_seconds = std::log(seconds), .censored = true});
}

void SmsDelayModel::Observe(const std::string& service, Observation observation) {
  auto [it, fresh] = services_.try_emplace(service);
  if (fresh) it->second.fitted = Prior();
  auto& observations = it->second.observations;
  observations.push_back(observation);
  while (observations.size() > options_.memory) observations.pop_front();
}

LogNormalDelay SmsDelayModel::Estimate(const std::string& service,
                                       std::span<const double> waiting) {
  auto it = services_.find(service);
  if (it == services_.end()) {
    if (waiting.empty()) return Prior();
    it = services_.try_emplace(service).first;
    it->second.fitted = Prior();
  }
  // EM for a log-normal with right-censored observations: a censored one counts as its
  // expected log-delay (and spread) under the current fit, given that it exceeds the
  // censoring point. The prior counts as `prior_weight` observations of its median, and
  // as one of its spread around the fitted median (not around its own: a service far
  // from the prior is not made to look erratic by the distance).
  const LogNormalDelay prior = Prior();
  const double n0 = options_.prior_weight;
  LogNormalDelay fit = it->second.fitted;
  struct Expected {
    double mean, variance;  // of the log-delay
  };
  std::vector<Expected> expected;
  for (int step = 0; step < kEmSteps; ++step) {
    expected.clear();
    auto add = [&](double x, bool censored) {
      if (!censored) return expected.push_back({x, 0});
      const double a = (x - fit.mu) / fit.sigma;
      const double tail = NormalTail(a);
      // The inverse Mills ratio, and the truncated variance factor; far in the tail (where
      // both underflow) their asymptotes: a + 1/a and 1/a^2.
      const bool far = tail < 1e-280 || a > 30;
      const double hazard = far ? a + 1 / a : NormalPdf(a) / tail;
      const double factor = far ? 1 / (a * a) : 1 + a * hazard - hazard * hazard;
      expected.push_back(
          {fit.mu + fit.sigma * hazard, fit.sigma * fit.sigma * std::clamp(factor, 0.0, 1.0)});
    };
    for (const Observation& o : it->second.observations) add(o.log_seconds, o.censored);
    for (double age : waiting) {
      if (age >= kLeastCensoredSeconds) add(std::log(age), true);
    }
    const double n = static_cast<double>(expected.size());
    double sum = n0 * prior.mu;
    for (const Expected& e : expected) sum += e.mean;
    fit.mu = std::min(sum / (n0 + n), kMaxMu);
    double spread = prior.sigma * prior.sigma;
    for (const Expected& e : expected) spread += e.variance + (e.mean - fit.mu) * (e.mean - fit.mu);
    fit.sigma = std::clamp(std::sqrt(spread / (1 + n)), kMinSigma, kMaxSigma);
  }
  it->second.fitted = fit;
  return fit;
}

}  // namespace ismscode::gateway
