#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include "sim/simulation.h"
#include "sim/skewed_clock.h"
#include "tests/sim/toys.h"

namespace omni::sim {
namespace {

struct TickLog {
  std::vector<Time> local;  // the `now` each tick saw
};

// At start, asks for one tick `wait` of local time later.
ComponentFactory one_timer(TickLog* log, Duration wait) {
  return testing::lambda_factory([log, wait](const Input& input, Outputs& out) {
    if (const auto* start = std::get_if<Start>(&input)) out.push_back(WakeAt{start->now + wait});
    if (const auto* tick = std::get_if<Tick>(&input)) log->local.push_back(tick->now);
  });
}

TEST(ClockSkew, TimersRunAtTheProcessRate) {
  struct Case {
    double rate;
    Duration local_wait;
    Duration sim_wait;
  };
  const std::vector<Case> cases = {
      {1.0, 1s, 1s}, {2.0, 1s, 500ms}, {0.5, 1s, 2s}, {1.05, 2100ms, 2s}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.rate);
    TickLog log;
    Simulation sim(SimConfig{});
    sim.add_process("p", one_timer(&log, c.local_wait), 1ms);
    sim.set_clock_rate("p", c.rate);
    sim.run_for(1ms + c.sim_wait - 1us);
    EXPECT_TRUE(log.local.empty()) << "fired early";
    sim.run_for(2us);
    ASSERT_EQ(log.local.size(), 1U) << "did not fire on time";
    EXPECT_GE(log.local[0], sim.local_now("p") - 2us);
  }
}

TEST(ClockSkew, TickSeesAtLeastTheTimeItAskedFor) {
  TickLog log;
  Simulation sim(SimConfig{});
  sim.add_process("p", one_timer(&log, 333'333'333ns));
  sim.set_clock_rate("p", 3.0);
  sim.run_for(1s);
  ASSERT_EQ(log.local.size(), 1U);
  EXPECT_GE(log.local[0], time_from_ns(333'333'333));
}

TEST(ClockSkew, SlowingDownLateStillFiresAtTheLocalDeadline) {
  TickLog log;
  Simulation sim(SimConfig{});
  sim.add_process("p", one_timer(&log, 1s));
  sim.after(500ms, [](Simulation& s) { s.set_clock_rate("p", 0.5); });
  sim.run_for(1400ms);  // local is only at 0.95s
  EXPECT_TRUE(log.local.empty());
  sim.run_for(200ms);  // local reaches 1.0s at sim 1.5s
  ASSERT_EQ(log.local.size(), 1U);
  EXPECT_GE(log.local[0], time_from_ns(0) + 1s);
}

RC_GTEST_PROP(SkewedClockProps, LocalClockIsMonotonicAcrossRateChanges,
              (std::vector<std::pair<std::uint16_t, std::uint8_t>> steps)) {
  SkewedClock clock;
  Time sim_now{};
  Time last_local = clock.local_at(sim_now);
  for (const auto& [advance_us, rate_choice] : steps) {
    sim_now += Duration{advance_us * 1000LL};
    if (rate_choice % 3 == 0) clock.set_rate(sim_now, 0.25 + (rate_choice % 17) * 0.25);
    const Time local = clock.local_at(sim_now);
    RC_ASSERT(local >= last_local);
    last_local = local;
  }
}

}  // namespace
}  // namespace omni::sim
