// The SMS delay distribution the poll scheduler learns: its math, and what it learns.
#include "server/sms_delay_model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace ismscode::gateway {
namespace {

// E[(now - S)+ ; last < S <= now] / P(S > last) by the midpoint rule: the definition.
double WaitingByIntegration(const LogNormalDelay& d, double last, double now) {
  const int steps = 20000;
  double total = 0;
  const double h = (now - last) / steps;
  for (int i = 0; i < steps; ++i) {
    const double a = last + i * h, b = a + h;
    total += (d.Cdf(b) - d.Cdf(a)) * (now - (a + b) / 2);
  }
  return total / (1 - d.Cdf(last));
}

// Deterministic "draws" of a log-normal: its quantiles at evenly spaced probabilities.
std::vector<double> Draws(const LogNormalDelay& d, int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(d.Quantile((i + 0.5) / n));
  return out;
}

TEST(LogNormalDelay, WaitingSecondsIsTheExpectedWaitOfAnSmsThatMayBeThere) {
  const LogNormalDelay d{.mu = std::log(10), .sigma = 0.4};
  for (auto [last, now] : {std::pair{0.0, 5.0}, {0.0, 12.0}, {8.0, 13.0}, {15.0, 40.0}}) {
    EXPECT_NEAR(d.WaitingSeconds(last, now), WaitingByIntegration(d, last, now), 1e-3)
        << last << " -> " << now;
  }
  EXPECT_EQ(d.WaitingSeconds(10, 10), 0);
  EXPECT_EQ(d.WaitingSeconds(10, 3), 0);
  EXPECT_LT(d.WaitingSeconds(0, 3), 0.01) << "an SMS due in 10 s is rarely there at 3 s";
  double previous = 0;
  for (double now = 0.5; now < 60; now += 0.5) {
    const double w = d.WaitingSeconds(5, now);
    EXPECT_GE(w, previous) << "never decreases, at " << now;
    previous = w;
  }
}

TEST(LogNormalDelay, WhenWaitingReachesIsTheInverse) {
  const LogNormalDelay d{.mu = std::log(10), .sigma = 0.4};
  const double t = d.WhenWaitingReaches(5, 4, 5, 60);
  EXPECT_NEAR(d.WaitingSeconds(5, t), 4, 0.01);
  EXPECT_EQ(d.WhenWaitingReaches(5, 4, 30, 60), 30) << "already worth it at `from`";
  EXPECT_EQ(d.WhenWaitingReaches(5, 100, 5, 20), 20) << "not by `until`";
}

TEST(LogNormalDelay, Quantiles) {
  const LogNormalDelay d{.mu = std::log(10), .sigma = 0.8};
  EXPECT_NEAR(d.Quantile(0.5), 10, 1e-6);
  EXPECT_NEAR(d.Quantile(0.95), 10 * std::exp(1.6448536 * 0.8), 1e-3);
  EXPECT_NEAR(d.Cdf(d.Quantile(0.3)), 0.3, 1e-9);
}

TEST(SmsDelayModel, AServiceStartsFromThePrior) {
  SmsDelayModel model({});
  const LogNormalDelay prior = model.Estimate("google", {});
  EXPECT_NEAR(prior.Quantile(0.5), 10, 1e-6);
  EXPECT_NEAR(prior.Quantile(0.95), 37.3, 0.1);
}

TEST(SmsDelayModel, DeliveriesTeachEachServiceItsOwnDelay) {
  SmsDelayModel model({});
  const LogNormalDelay slow{.mu = std::log(40), .sigma = 0.4};
  for (double s : Draws(slow, 100)) model.Delivered("slow", s);
  for (double s : Draws({.mu = std::log(6), .sigma = 0.3}, 100)) model.Delivered("fast", s);
  const LogNormalDelay learned = model.Estimate("slow", {});
  EXPECT_NEAR(learned.Quantile(0.5), 40 * std::pow(10.0 / 40, 1.0 / 101), 1.0)
      << "the prior still counts, as one observation";
  EXPECT_NEAR(learned.sigma, 0.4, 0.05);
  EXPECT_NEAR(model.Estimate("fast", {}).Quantile(0.5), 6.0, 0.3);
  EXPECT_NEAR(model.Estimate("new", {}).Quantile(0.5), 10, 1e-6) << "others keep the prior";
}

TEST(SmsDelayModel, NumbersStillWaitingKeepTheFirstFastDeliveriesFromFoolingIt) {
  // A slow service's first minute: only its fastest SMS came, twenty numbers still wait.
  SmsDelayModel fooled({}), model({});
  for (double s : {18.0, 20.0, 22.0}) {
    fooled.Delivered("slow", s);
    model.Delivered("slow", s);
  }
  const std::vector<double> waiting(20, 30.0);
  const double naive = fooled.Estimate("slow", {}).Quantile(0.5);
  double median = 0;
  for (int i = 0; i < 10; ++i) median = model.Estimate("slow", waiting).Quantile(0.5);
  EXPECT_LT(naive, 20);
  EXPECT_GT(median, 30) << "twenty of twenty-three have taken longer than 30 s";
}

TEST(SmsDelayModel, AbandonedNumbersCountAsLaterThanTheirLastPoll) {
  SmsDelayModel model({}), early({});
  for (int i = 0; i < 20; ++i) {
    model.Abandoned("lost", 60);
    early.Abandoned("lost", 60);
  }
  early.Abandoned("lost", 0.1);  // too early to say anything
  double median = 0;
  for (int i = 0; i < 10; ++i) {
    median = model.Estimate("lost", {}).Quantile(0.5);
    EXPECT_EQ(early.Estimate("lost", {}).Quantile(0.5), median);
  }
  EXPECT_GT(median, 60);
  for (int i = 0; i < 1000; ++i) median = model.Estimate("lost", {}).Quantile(0.5);
  EXPECT_LE(median, 3600) << "SMS that never come: an hour at most, not infinity";
}

TEST(SmsDelayModel, RemembersOnlyTheLatestObservations) {
  SmsDelayModel model({.memory = 50});
  for (int i = 0; i < 200; ++i) model.Delivered("s", 60);
  for (int i = 0; i < 50; ++i) model.Delivered("s", 5);
  EXPECT_LT(model.Estimate("s", {}).Quantile(0.5), 6) << "the service got faster";
}

}  // namespace
}  // namespace ismscode::gateway
