// Same scenario + seed + build => same trace hash; different seeds => different runs.
#include <gtest/gtest.h>

#include <set>

#include "sim/cluster/run.h"
#include "tests/scenarios/load.h"

namespace omni::sim {
namespace {

TEST(Determinism, SameSeedSameHashDifferentSeedsDiffer) {
  for (const std::string name : {"bootstrap", "swarm", "lossy-network"}) {
    SCOPED_TRACE(name);
    const Scenario s = testing::load_scenario("scenarios/" + name + ".yaml");
    std::set<std::uint64_t> hashes;
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      const RunResult first = run_scenario(s, seed);
      const RunResult second = run_scenario(s, seed, RunOptions{.record_events = true});
      EXPECT_EQ(first.trace_hash, second.trace_hash) << "seed " << seed;
      EXPECT_EQ(first.events, second.events) << "seed " << seed;
      hashes.insert(first.trace_hash);
    }
    EXPECT_EQ(hashes.size(), 5u) << "five seeds, five different runs";
  }
}

}  // namespace
}  // namespace omni::sim
