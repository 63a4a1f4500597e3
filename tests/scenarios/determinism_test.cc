// Same scenario + seed + build => same trace hash; different seeds => different runs; and a few
// hashes pinned, so that any change in what a run does is a deliberate change of this file.
#include <gtest/gtest.h>

#include <cstdio>
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

// The hash covers every event, message, persisted record, driver op and result and start record
// (sim/trace.h). When a change is meant to change behaviour, run this test, check the new hashes
// are the only failures, and paste them here in the same commit: the diff shows that the
// change moved the runs. On any other build of the same code the hashes must be equal: CI runs
// this test on the sanitized build and on the Release one (.ci/dev test).
TEST(Determinism, PinnedSeedsKeepTheirHashes) {
  struct Pinned {
    std::string scenario;
    std::uint64_t seed;
    std::uint64_t trace_hash;
  };
  const std::vector<Pinned> pinned{
      {"bootstrap", 1, 0xd07208342d169bb2ULL}, {"bootstrap", 2, 0xec20f26b9c67c415ULL},
      {"partition", 1, 0x20c460c24e1b9b0dULL}, {"clients", 1, 0x4254e83be3aae8f0ULL},
      {"swarm", 1, 0xcad6e0e0fb89cc76ULL},
  };
  for (const auto& p : pinned) {
    const RunResult r =
        run_scenario(testing::load_scenario("scenarios/" + p.scenario + ".yaml"), p.seed);
    char hex[19];
    std::snprintf(hex, sizeof hex, "0x%016llx", static_cast<unsigned long long>(r.trace_hash));
    EXPECT_EQ(r.trace_hash, p.trace_hash)
        << p.scenario << " seed " << p.seed << " now hashes to " << hex << "ULL";
  }
}

}  // namespace
}  // namespace omni::sim
