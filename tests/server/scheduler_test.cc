// The timer thread and the worker pool (real threads, no waiting on time: every timer
// here is either due at once or cancelled).
#include "server/scheduler.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>

namespace ismscode::gateway {
namespace {

using namespace std::chrono_literals;

TEST(Scheduler, ACancelledTimerReleasesWhatItHeldAtOnce) {
  Scheduler scheduler;
  auto held = std::make_shared<int>(7);
  std::weak_ptr<int> watch = held;
  const auto id = scheduler.At(Scheduler::Clock::now() + 1h, [held] {});
  held.reset();
  EXPECT_FALSE(watch.expired()) << "the timer holds it";
  EXPECT_TRUE(scheduler.Cancel(id));
  EXPECT_TRUE(watch.expired()) << "released at the cancel, not at the hour";
  EXPECT_FALSE(scheduler.Cancel(id));
  EXPECT_EQ(scheduler.pending(), 0u);
}

TEST(Scheduler, DueTimersRunInTimeOrder) {
  Scheduler scheduler;
  // The timer thread is held by a first task while the others are set, so that it sees
  // them all at once.
  std::promise<void> holding, release;
  scheduler.At(Scheduler::Clock::now(), [&] {
    holding.set_value();
    release.get_future().wait();
  });
  holding.get_future().wait();
  std::promise<std::string> order;
  auto text = std::make_shared<std::string>();
  const auto now = Scheduler::Clock::now();
  scheduler.At(now, [text, &order] { order.set_value(*text + "c"); });
  scheduler.At(now - 1ms, [text] { *text += "b"; });
  scheduler.At(now - 2ms, [text] { *text += "a"; });
  release.set_value();
  EXPECT_EQ(order.get_future().get(), "abc");
}

TEST(WorkerPool, PostAfterStopSaysSoInsteadOfDroppingTheTask) {
  WorkerPool workers(2);
  std::promise<void> ran;
  ASSERT_TRUE(workers.Post([&] { ran.set_value(); }));
  ran.get_future().get();
  workers.Stop();
  EXPECT_FALSE(workers.Post([] { ADD_FAILURE() << "ran after Stop"; }));
}

}  // namespace
}  // namespace ismscode::gateway
