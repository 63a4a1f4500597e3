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

}  // namespace
}  // namespace omni::sim
