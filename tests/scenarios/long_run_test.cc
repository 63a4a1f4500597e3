// A long run is not cut short as a storm: the event budget grows with the simulated duration.
#include <gtest/gtest.h>

#include "sim/cluster/run.h"
#include "tests/scenarios/load.h"

namespace omni::sim {
namespace {

// Sixty simulated hours of swarm faults on three nodes: some 23 million events, past the fixed
// budget of 20 million that ended such runs at about fifty hours as "a livelock or a storm".
TEST(LongRuns, SixtyHoursOfSwarmFaultsStayWithinTheEventBudget) {
  const Scenario scenario = testing::parse_scenario_text(R"(name: long-swarm
cluster: ../examples/cluster-3node.yaml
duration: 60h
swarm: {until: 59h, kinds: all}
expect: {init: complete}
)");
  const RunResult result = run_scenario(scenario, 1);
  EXPECT_TRUE(result.passed) << (result.violation ? result.violation->to_string() : "");
  EXPECT_GT(result.events, 20'000'000u) << "the run is no longer past the old fixed budget";
}

}  // namespace
}  // namespace omni::sim
