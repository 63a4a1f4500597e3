// omni-sim shrink on a broken plane: leaders that answer reads without a read index, under a
// swarm of faults, give a client history that is not linearizable. Shrinking keeps a few of the
// faults; each is needed; the written scenario replays the failure, and with a sound plane the
// same faults pass.
#include "sim/shrink/shrink.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "sim/cli/sim_cli.h"
#include "sim/cluster/run.h"
#include "sim/scenario/write.h"
#include "tests/scenarios/load.h"

namespace omni::sim {
namespace {

// Each node in turn cut off from the other two, the clients on root-host reaching both sides
// (as in NotBlind.LinearizableCatchesADeposedLeaderServingReads), under a swarm of other faults.
// The stale-reads scenario of load.h, named apart, with the swarm before its expectations.
std::string stale_reads_under_a_swarm() {
  std::string text = testing::kStaleReadsScenario;
  text.replace(0, std::string_view("name: stale-reads").size(), "name: stale-reads-swarm");
  text.insert(text.find("expect:"),
              "swarm: {until: 8m, kinds: [drop, duplicate, reorder, clock_skew, crash]}\n");
  return text;
}

TEST(Shrink, AStaleReadUnderASwarmShrinksToFaultsThatAreEachNeededAndReplay) {
  const Scenario scenario = testing::parse_scenario_text(stale_reads_under_a_swarm());
  const RunOptions broken{.testing_leaders_read_locally = true};
  std::optional<std::uint64_t> seed;
  for (std::uint64_t s = 1; s <= 20 && !seed; ++s) {
    const RunResult r = run_scenario(scenario, s, broken);
    if (r.violation && r.violation->invariant == "linearizable") seed = s;
  }
  ASSERT_TRUE(seed.has_value()) << "no stale read in 20 seeds";

  std::vector<std::string> progress;
  const ShrinkResult shrunk =
      shrink_run(scenario, *seed, run_scenario, broken,
                 [&](const std::string& line) { progress.push_back(line); });
  ASSERT_FALSE(shrunk.refused.has_value()) << *shrunk.refused;
  EXPECT_EQ(shrunk.signature, "invariant 'linearizable'");
  EXPECT_GT(shrunk.faults_swarm, 0u);
  EXPECT_LT(shrunk.faults_kept, shrunk.faults_fired);
  ASSERT_TRUE(shrunk.minimal.has_value());
  const Scenario& minimal = *shrunk.minimal;
  EXPECT_FALSE(minimal.swarm.has_value());
  EXPECT_EQ(minimal.seed, *seed);
  std::printf("seed %llu: %zu of %zu faults kept in %zu runs\n",
              static_cast<unsigned long long>(*seed), shrunk.faults_kept, shrunk.faults_fired,
              shrunk.runs);

  // Written and read back, it is the same run.
  const Scenario reread = testing::parse_scenario_text(write_scenario_yaml(minimal));
  const RunResult replayed = run_scenario(reread, reread.seed, broken);
  EXPECT_EQ(failure_signature(replayed), shrunk.signature);
  EXPECT_EQ(replayed.trace_hash, shrunk.minimal_run.trace_hash);

  // Each fault is needed, heals too: without any one the run does not fail so.
  for (std::size_t i = 0; i < minimal.faults.size(); ++i) {
    Scenario fewer = minimal;
    fewer.faults.erase(fewer.faults.begin() + static_cast<std::ptrdiff_t>(i));
    EXPECT_NE(failure_signature(run_scenario(fewer, *seed, broken)), shrunk.signature)
        << "fault " << i << " could go from\n"
        << write_scenario_yaml(minimal);
  }
  // The failure is the broken plane's: with sound reads the same faults pass.
  EXPECT_TRUE(run_scenario(minimal, *seed).passed);
}

TEST(Shrink, APassingSeedIsRefused) {
  const Scenario scenario = testing::parse_scenario_text(stale_reads_under_a_swarm());
  const ShrinkResult shrunk =
      shrink_run(scenario, 1, run_scenario, RunOptions{}, [](const std::string&) {});
  ASSERT_TRUE(shrunk.refused.has_value());
  EXPECT_NE(shrunk.refused->find("passes"), std::string::npos) << *shrunk.refused;
  EXPECT_FALSE(shrunk.minimal.has_value());
}

// The command: a swarm that changes leaders more often than the scenario allows; the file it
// writes has a few scripted faults, no swarm, and fails when run.
TEST(Shrink, TheCommandWritesAScenarioThatFailsWhenRun) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("omni-shrink-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = dir / "few-leaders.yaml";
  std::ofstream(file) << "name: few-leaders\ncluster: "
                      << std::filesystem::absolute("examples/cluster-3node.yaml").string()
                      << "\nduration: 20m\nswarm: {until: 10m, kinds: all}\n"
                         "expect: {init: complete, leader_changes: \"<= 2\"}\n";
  const auto cli = [](const std::vector<std::string>& args, std::string* out) {
    std::ostringstream o, e;
    const int code = cli::run_sim_cli(args, o, e, run_scenario);
    *out = o.str() + e.str();
    return code;
  };
  std::string out;
  const std::string written = dir / "minimal.yaml";
  ASSERT_EQ(cli({"shrink", file, "--seed", "2", "-o", written}, &out), cli::kExitOk) << out;
  EXPECT_NE(out.find("replays: omni-sim run " + written), std::string::npos) << out;
  EXPECT_NE(out.find("expectation not met: leader_changes is"), std::string::npos) << out;
  const Scenario minimal = testing::load_scenario(written);
  EXPECT_FALSE(minimal.swarm.has_value());
  EXPECT_EQ(minimal.seed, 2u);
  EXPECT_FALSE(minimal.faults.empty());
  EXPECT_LT(minimal.faults.size(), 10u) << out;
  EXPECT_EQ(cli({"run", written}, &out), cli::kExitFailure) << out;

  // A seed that passes: nothing to shrink, and no file left behind.
  std::ofstream(file) << "name: calm\ncluster: "
                      << std::filesystem::absolute("examples/cluster-3node.yaml").string()
                      << "\nduration: 10m\nswarm: {until: 5m, kinds: [drop]}\n";
  const std::string none = dir / "none.yaml";
  EXPECT_EQ(cli({"shrink", file, "-o", none}, &out), cli::kExitFailure) << out;
  EXPECT_NE(out.find("seed 1 passes"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(none));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace omni::sim
