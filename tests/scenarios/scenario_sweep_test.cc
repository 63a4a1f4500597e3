// Every file in scenarios/ passes 50 seeds: its invariants hold and its `expect:` is met.
#include <gtest/gtest.h>

#include "sim/cluster/run.h"
#include "tests/scenarios/load.h"

namespace omni::sim {
namespace {

constexpr std::uint64_t kSeeds = 50;

class ScenarioSweep : public ::testing::TestWithParam<std::string> {};

TEST_P(ScenarioSweep, FiftySeedsPass) {
  const Scenario scenario = testing::load_scenario("scenarios/" + GetParam() + ".yaml");
  for (std::uint64_t seed = 1; seed <= kSeeds; ++seed) {
    const RunResult r = run_scenario(scenario, seed);
    std::string why;
    if (r.violation) why = r.violation->to_string();
    for (const auto& f : r.expectation_failures) why += "\nexpectation: " + f;
    ASSERT_TRUE(r.passed) << "replay: omni-sim run scenarios/" << GetParam() << ".yaml --seed "
                          << seed << " --trace trace.json\n"
                          << why;
  }
}

// Listed by hand so a new file is a deliberate addition; the test below keeps the list whole.
const std::vector<std::string> kScenarios{
    "apps",        "apps-node-loss", "apps-overcommit",        "apps-partition",
    "apps-update", "bootstrap",      "bootstrap-large",        "capacity-too-small",
    "cold-start",  "cold-start-100", "cold-start-apps",        "director-vm-loss",
    "disk-errors", "leader-crash",   "lossy-network",          "one-way-isolation",
    "partition",   "replica-loss",   "root-crash-during-init", "swarm",
    "swarm-apps"};

INSTANTIATE_TEST_SUITE_P(Scenarios, ScenarioSweep, ::testing::ValuesIn(kScenarios),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(ScenarioSweep, EveryScenarioFileIsSwept) {
  for (const auto& file : testing::scenario_files()) {
    const std::string name = std::filesystem::path(file).stem().string();
    EXPECT_NE(std::find(kScenarios.begin(), kScenarios.end(), name), kScenarios.end())
        << file << " is not in the sweep";
  }
}

}  // namespace
}  // namespace omni::sim
