// The whole `omni init` and the closed loop in simulation, end to end.
#include <gtest/gtest.h>

#include "sim/cluster/run.h"
#include "tests/sim/cluster/scenarios.h"

namespace omni::sim {
namespace {

std::string describe(const RunResult& r) {
  std::string text = "seed " + std::to_string(r.seed) + " phase " +
                     std::string(root::phase_name(r.root_phase)) + " events " +
                     std::to_string(r.events);
  if (r.violation) text += "\n" + r.violation->to_string();
  for (const auto& f : r.expectation_failures) text += "\nexpectation: " + f;
  if (r.init_failed) text += "\ninit failed: " + r.init_failure;
  return text;
}

TEST(ClusterRun, BootstrapsThreeNodesAndTheRootLeaves) {
  const Scenario s = testing::cluster_of(3, 3);
  const RunResult r = run_scenario(s, 1);
  ASSERT_TRUE(r.passed) << describe(r);
  EXPECT_TRUE(r.init_completed);
  EXPECT_EQ(r.root_phase, root::Phase::done);
  ASSERT_TRUE(r.init_done_at.has_value());
  EXPECT_LT(r.init_done_at->time_since_epoch(), 5min);
}

// The first (re)start of `address` at or after `after`, from the recorded trace.
std::optional<Time> first_start_after(const RunResult& r, const std::string& address, Time after) {
  for (const auto& e : r.trace_events) {
    if (e.kind != EventKind::start || e.at < after) continue;
    if (e.process < r.addresses.size() && r.addresses[e.process] == address) return e.at;
  }
  return std::nullopt;
}

Scenario with_orchestrator_crash(std::optional<Duration> restart_after) {
  Scenario s = testing::cluster_of(3, 3);
  Fault crash;
  crash.at = FaultTime{FaultTime::Kind::absolute, 10min, root::Phase::preflight};
  crash.what = CrashFault{Target{Target::Kind::orchestrator, "2"}};
  crash.restart_after = restart_after;
  s.faults.push_back(crash);
  return s;
}

// `restart_after` on an Orchestrator holds its process down that long although its Agent
// restarts the container; without it, the Agent's supervision brings it back quickly.
TEST(ClusterRun, RestartAfterOnAnOrchestratorIsHonoured) {
  RunOptions options;
  options.record_events = true;
  const RunResult held = run_scenario(with_orchestrator_crash(3min), 1, options);
  ASSERT_TRUE(held.passed) << describe(held);
  const auto held_back = first_start_after(held, "orchestrator:2", Time{} + 10min);
  ASSERT_TRUE(held_back.has_value());
  EXPECT_GE(*held_back, Time{} + 13min);
  EXPECT_LT(*held_back, Time{} + 14min);

  const RunResult supervised = run_scenario(with_orchestrator_crash(std::nullopt), 1, options);
  ASSERT_TRUE(supervised.passed) << describe(supervised);
  const auto back = first_start_after(supervised, "orchestrator:2", Time{} + 10min);
  ASSERT_TRUE(back.has_value());
  EXPECT_LT(*back, Time{} + 11min) << "the Agent restarts a crashed container by itself";
}

}  // namespace
}  // namespace omni::sim
