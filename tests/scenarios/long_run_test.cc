// A long run is not cut short as a storm: the event budget grows with the simulated duration.
#include <gtest/gtest.h>

#include "sim/cluster/run.h"
#include "tests/scenarios/load.h"

namespace omni::sim {
namespace {

// 120 simulated hours of swarm faults on three nodes: some 25 million events, past the fixed
// budget of 20 million that ended such runs at about a hundred hours (fifty with the 50 ms
// heartbeat of before) as "a livelock or a storm".
TEST(LongRuns, AHundredAndTwentyHoursOfSwarmFaultsStayWithinTheEventBudget) {
  const Scenario scenario = testing::parse_scenario_text(R"(name: long-swarm
cluster: ../examples/cluster-3node.yaml
duration: 120h
swarm: {until: 119h, kinds: all}
expect: {init: complete}
)");
  const RunResult result = run_scenario(scenario, 1);
  EXPECT_TRUE(result.passed) << (result.violation ? result.violation->to_string() : "");
  EXPECT_GT(result.events, 20'000'000u) << "the run is no longer past the old fixed budget";
}

}  // namespace
}  // namespace omni::sim
