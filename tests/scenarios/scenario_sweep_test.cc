// Every file in scenarios/ passes 50 seeds: its invariants hold and its `expect:` is met. The
// sanitizer build runs 5 of them (its runs are twenty times slower); CI runs all 50 in the
// Release build beside it. A window of swarm seeds that moves with the clock explores seeds no
// run has tried before, and prints itself, so that a failure found there can be replayed.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <numeric>
#include <ostream>
#include <vector>

#include "sim/cluster/run.h"
#include "tests/scenarios/load.h"

namespace omni::sim {
namespace {

#ifndef OMNI_SWEEP_SEEDS
#define OMNI_SWEEP_SEEDS 50
#endif
constexpr std::uint64_t kSeeds = OMNI_SWEEP_SEEDS;

// A scenario and the seeds one ctest entry runs. The slowest scenario is split, so that its 50
// seeds run beside the rest of the suite instead of alone at its end.
struct Sweep {
  std::string scenario;
  std::uint64_t first_seed = 1;
  std::uint64_t last_seed = kSeeds;
};

void PrintTo(const Sweep& sweep, std::ostream* out) {
  *out << sweep.scenario << " seeds " << sweep.first_seed << ".." << sweep.last_seed;
}

class ScenarioSweep : public ::testing::TestWithParam<Sweep> {};

TEST_P(ScenarioSweep, EverySeedPasses) {
  const Sweep& sweep = GetParam();
  const Scenario scenario = testing::load_scenario("scenarios/" + sweep.scenario + ".yaml");
  for (std::uint64_t seed = sweep.first_seed; seed <= sweep.last_seed; ++seed) {
    const RunResult r = run_scenario(scenario, seed);
    std::string why;
    if (r.violation) why = r.violation->to_string();
    for (const auto& f : r.expectation_failures) why += "\nexpectation: " + f;
    ASSERT_TRUE(r.passed) << "replay: omni-sim run scenarios/" << sweep.scenario << ".yaml --seed "
                          << seed << " --trace trace.json\n"
                          << why;
  }
}

// Listed by hand so a new file is a deliberate addition; the test below keeps the list whole.
const std::vector<std::string> kScenarios{"apps",
                                          "apps-leader-crash-lossy",
                                          "apps-director-loss",
                                          "apps-heal-fast-start",
                                          "apps-move-interrupted",
                                          "apps-move-live",
                                          "apps-node-loss",
                                          "apps-one-way-cut",
                                          "apps-overcommit",
                                          "apps-partition",
                                          "apps-update",
                                          "bootstrap",
                                          "bootstrap-large",
                                          "capacity-too-small",
                                          "cold-start",
                                          "cold-start-100",
                                          "cold-start-apps",
                                          "director-disk-corrupt",
                                          "director-hung",
                                          "director-slow-boot",
                                          "director-vm-loss",
                                          "clients",
                                          "disk-errors",
                                          "leader-crash",
                                          "lossy-network",
                                          "one-way-isolation",
                                          "partition",
                                          "replica-loss",
                                          "root-crash-during-init",
                                          "root-disk-corrupt",
                                          "root-restart-in-flight",
                                          "single-orchestrator",
                                          "swarm",
                                          "swarm-apps"};

// The 1,000-node scenario takes minutes under the sanitizers: five entries of ten seeds, first.
const std::map<std::string, std::uint64_t> kShards{{"bootstrap-large", 5}};

std::vector<Sweep> sweeps() {
  std::vector<Sweep> split;
  std::vector<Sweep> whole;
  for (const auto& scenario : kScenarios) {
    const auto shards = kShards.count(scenario) ? kShards.at(scenario) : 1;
    const std::uint64_t per_shard = kSeeds / shards;
    for (std::uint64_t shard = 0; shard < shards; ++shard)
      (shards > 1 ? split : whole)
          .push_back({scenario, shard * per_shard + 1,
                      shard + 1 == shards ? kSeeds : (shard + 1) * per_shard});
  }
  split.insert(split.end(), whole.begin(), whole.end());
  return split;
}

INSTANTIATE_TEST_SUITE_P(Scenarios, ScenarioSweep, ::testing::ValuesIn(sweeps()),
                         [](const auto& param_info) {
                           const Sweep& sweep = param_info.param;
                           std::string name = sweep.scenario;
                           std::replace(name.begin(), name.end(), '-', '_');
                           if (sweep.first_seed != 1 || sweep.last_seed != kSeeds)
                             name += "_seeds_" + std::to_string(sweep.first_seed) + "_" +
                                     std::to_string(sweep.last_seed);
                           return name;
                         });

// The shards of a split scenario cover its seeds once each.
TEST(ScenarioSweep, ShardsCoverEverySeedOnce) {
  std::map<std::string, std::vector<std::uint64_t>> seeds;
  for (const auto& sweep : sweeps())
    for (std::uint64_t seed = sweep.first_seed; seed <= sweep.last_seed; ++seed)
      seeds[sweep.scenario].push_back(seed);
  ASSERT_EQ(seeds.size(), kScenarios.size());
  for (auto& [scenario, list] : seeds) {
    std::sort(list.begin(), list.end());
    std::vector<std::uint64_t> expected(kSeeds);
    std::iota(expected.begin(), expected.end(), 1);
    EXPECT_EQ(list, expected) << scenario;
  }
}

// Seeds beyond the fixed ones, a different window every minute: OMNI_SWARM_WINDOW=FIRST replays
// one. The window is printed whether or not it passes.
TEST(ScenarioSweep, AMovingWindowOfSwarmSeedsPasses) {
  constexpr std::uint64_t kWindow = 2 * kSeeds;  // seeds of each of the two scenarios
  std::uint64_t first = 0;
  if (const char* pinned = std::getenv("OMNI_SWARM_WINDOW")) {
    first = std::strtoull(pinned, nullptr, 10);
  } else {
    const auto minutes = std::chrono::duration_cast<std::chrono::minutes>(
        std::chrono::system_clock::now().time_since_epoch());
    first = 1'000 + static_cast<std::uint64_t>(minutes.count()) % 1'000'000 * 200;
  }
  std::cout << "swarm and clients seeds " << first << ".." << first + kWindow - 1
            << " (replay this window with OMNI_SWARM_WINDOW=" << first << ")\n";
  for (const char* name : {"swarm", "clients"}) {
    const Scenario scenario = testing::load_scenario(std::string("scenarios/") + name + ".yaml");
    for (std::uint64_t seed = first; seed < first + kWindow; ++seed) {
      const RunResult r = run_scenario(scenario, seed);
      ASSERT_TRUE(r.passed) << "replay: omni-sim run scenarios/" << name << ".yaml --seed " << seed
                            << " --trace trace.json\n"
                            << (r.violation ? r.violation->to_string() : "")
                            << (r.expectation_failures.empty() ? ""
                                                               : r.expectation_failures.front());
    }
  }
}

TEST(ScenarioSweep, EveryScenarioFileIsSwept) {
  for (const auto& file : testing::scenario_files()) {
    const std::string name = std::filesystem::path(file).stem().string();
    EXPECT_NE(std::find(kScenarios.begin(), kScenarios.end(), name), kScenarios.end())
        << file << " is not in the sweep";
  }
}

}  // namespace
}  // namespace omni::sim
