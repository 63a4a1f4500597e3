#include <gtest/gtest.h>

#include "sim/simulation.h"
#include "tests/sim/toys.h"

namespace omni::sim {
namespace {

// Counts ticks; asserts (OMNI_ASSERT) that it never reaches `limit`.
class Counter : public Component {
 public:
  explicit Counter(std::uint64_t limit) : limit_(limit) {}
  void step(const Input& input, Outputs& out) override {
    if (std::holds_alternative<Tick>(input)) {
      ++count_;
      OMNI_ASSERT(count_ < limit_, "counter reached its limit");
    }
    out.push_back(WakeAt{now_of(input) + 100ms});
  }
  std::uint64_t count() const { return count_; }

 private:
  std::uint64_t limit_;
  std::uint64_t count_ = 0;
};

// Reads the live Counter objects; fails when their sum passes `max_total`.
class TotalBelow : public Checker {
 public:
  explicit TotalBelow(std::uint64_t max_total) : max_total_(max_total) {}
  std::string name() const override { return "total-below"; }
  void check_safety(CheckContext& context) override {
    std::uint64_t total = 0;
    std::vector<Address> counted;
    for (std::size_t i = 0; i < context.process_count(); ++i) {
      const auto* counter = dynamic_cast<const Counter*>(context.component(i));
      if (counter == nullptr) continue;
      total += counter->count();
      counted.push_back(context.address(i));
    }
    context.bump("total-checks");
    if (total > max_total_) context.fail("total " + std::to_string(total), counted);
  }

 private:
  std::uint64_t max_total_;
};

class AlwaysFailsLiveness : public Checker {
 public:
  std::string name() const override { return "eventually-done"; }
  void check_liveness(CheckContext& context) override { context.fail("never done", {"x"}); }
};

ComponentFactory counter(std::uint64_t limit) {
  return [limit](Rng) { return std::make_unique<Counter>(limit); };
}

TEST(Checkers, AFailingCheckerStopsTheRunWithItsReport) {
  Simulation sim(SimConfig{.seed = 77});
  sim.add_process("x", counter(1000));
  sim.add_process("y", counter(1000));
  sim.add_checker(std::make_unique<TotalBelow>(10));
  EXPECT_EQ(sim.run_for(10s), RunStatus::violation);
  ASSERT_TRUE(sim.violation().has_value());
  const Violation& v = *sim.violation();
  EXPECT_EQ(v.invariant, "total-below");
  EXPECT_EQ(v.seed, 77U);
  EXPECT_EQ(v.message, "total 11");
  EXPECT_EQ(v.processes, (std::vector<Address>{"x", "y"}));
  EXPECT_EQ(v.at, time_from_ns(0) + 600ms);  // x ticks 6 times, y 5 times by then
  EXPECT_EQ(sim.now(), v.at);                // the run stopped there
  EXPECT_FALSE(sim.step());
  EXPECT_GT(sim.named_counters().at("total-checks"), 0);
  EXPECT_NE(v.to_string().find("seed 77"), std::string::npos);
  EXPECT_NE(v.to_string().find("0.600000000s"), std::string::npos);
}

TEST(Checkers, AnAssertionInAComponentIsAViolationNotACrash) {
  Simulation sim(SimConfig{.seed = 5});
  sim.add_process("x", counter(3));
  EXPECT_EQ(sim.run_for(10s), RunStatus::violation);
  ASSERT_TRUE(sim.violation().has_value());
  const Violation& v = *sim.violation();
  EXPECT_EQ(v.invariant, "assertion");
  EXPECT_EQ(v.processes, (std::vector<Address>{"x"}));
  EXPECT_EQ(v.seed, 5U);
  EXPECT_EQ(v.at, time_from_ns(0) + 300ms);
  EXPECT_NE(v.message.find("counter reached its limit"), std::string::npos);
}

TEST(Checkers, AnExceptionInAComponentIsAViolation) {
  Simulation sim(SimConfig{});
  sim.add_process("x", testing::lambda_factory(
                           [](const Input&, Outputs&) { throw std::runtime_error("boom"); }));
  EXPECT_EQ(sim.run_for(1s), RunStatus::violation);
  EXPECT_EQ(sim.violation()->invariant, "exception");
  EXPECT_EQ(sim.violation()->message, "boom");
}

TEST(Checkers, LivenessRunsAtTheEndAndCanFail) {
  Simulation sim(SimConfig{});
  sim.add_process("x", counter(1000));
  sim.add_checker(std::make_unique<AlwaysFailsLiveness>());
  EXPECT_EQ(sim.run_for(1s), RunStatus::deadline);
  EXPECT_FALSE(sim.violation().has_value());
  EXPECT_FALSE(sim.check_liveness());
  EXPECT_EQ(sim.violation()->invariant, "eventually-done");
  EXPECT_EQ(sim.violation()->processes, (std::vector<Address>{"x"}));
}

TEST(Checkers, APassingCheckerLetsTheRunFinish) {
  Simulation sim(SimConfig{});
  sim.add_process("x", counter(1000));
  sim.add_checker(std::make_unique<TotalBelow>(1000));
  EXPECT_EQ(sim.run_for(5s), RunStatus::deadline);
  EXPECT_TRUE(sim.check_liveness());
  EXPECT_EQ(sim.now(), time_from_ns(0) + 5s);
}

// A kind of component a checker can tell apart from the others by its type.
class Watched final : public testing::LambdaComponent {
 public:
  using LambdaComponent::LambdaComponent;
};

ComponentFactory waking_every_100ms(int* steps, bool watched) {
  return [steps, watched](Rng) -> std::unique_ptr<Component> {
    auto fn = [steps](const Input& input, Outputs& out) {
      ++*steps;
      out.push_back(WakeAt{now_of(input) + 100ms});
    };
    if (watched) return std::make_unique<Watched>(fn);
    return std::make_unique<testing::LambdaComponent>(fn);
  };
}

// Sees the steps of Watched components only, and records whose.
class WatchesWatched : public Checker {
 public:
  explicit WatchesWatched(Simulation* sim) : sim_(sim) {}
  std::string name() const override { return "watches-watched"; }
  bool every_event() const override { return false; }
  bool watches(const Component& stepped) const override {
    ++asked;
    return dynamic_cast<const Watched*>(&stepped) != nullptr;
  }
  void check_safety(CheckContext&) override {
    const auto id = sim_->stepped_in_last_event();
    if (id && dynamic_cast<const Watched*>(sim_->component(*id)) != nullptr)
      ++steps_seen;
    else
      ++wrong_calls;
  }
  mutable int asked = 0;
  int steps_seen = 0;
  int wrong_calls = 0;

 private:
  Simulation* sim_;
};

class CountsEvents : public Checker {
 public:
  std::string name() const override { return "counts-events"; }
  void check_safety(CheckContext&) override { ++calls; }
  int calls = 0;
};

TEST(Checkers, AWatchingCheckerIsAskedOnlyAfterTheStepsOfWhatItWatches) {
  Simulation sim(SimConfig{});
  int watched_steps = 0;
  int other_steps = 0;
  sim.add_process("x", waking_every_100ms(&watched_steps, true));
  sim.add_process("y", waking_every_100ms(&other_steps, false));
  auto watcher = std::make_unique<WatchesWatched>(&sim);
  auto counter = std::make_unique<CountsEvents>();
  WatchesWatched& w = *watcher;
  CountsEvents& c = *counter;
  sim.add_checker(std::move(watcher));
  sim.add_checker(std::move(counter));
  EXPECT_EQ(sim.run_for(1s), RunStatus::deadline);
  EXPECT_GT(watched_steps, 5);
  EXPECT_GT(other_steps, 5);
  EXPECT_EQ(w.steps_seen, watched_steps);
  EXPECT_EQ(w.wrong_calls, 0);
  EXPECT_EQ(w.asked, 2) << "once for each component's incarnation";
  EXPECT_EQ(static_cast<std::uint64_t>(c.calls), sim.counters().events)
      << "a checker of every event sees them all";
  EXPECT_GE(c.calls, watched_steps + other_steps);
  // A new incarnation is asked again, and its steps are seen.
  sim.crash("x");
  sim.restart("x", 200ms);
  const int before = watched_steps;
  EXPECT_EQ(sim.run_for(1s), RunStatus::deadline);
  EXPECT_GT(watched_steps, before);
  EXPECT_EQ(w.steps_seen, watched_steps);
  EXPECT_EQ(w.wrong_calls, 0);
  EXPECT_EQ(w.asked, 3);
}

}  // namespace
}  // namespace omni::sim
