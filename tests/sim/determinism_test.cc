#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <set>

#include "sim/simulation.h"
#include "tests/sim/toys.h"

namespace omni::sim {
namespace {

NetworkConfig faulty_network() {
  return {.latency_min = 1ms,
          .latency_max = 9ms,
          .drop_probability = 0.05,
          .duplicate_probability = 0.05,
          .reorder_probability = 0.05};
}

// A gossip run with crashes, a partition, corruption and skew, all drawn from the seed.
std::uint64_t run_hash(std::uint64_t seed, bool record_events = false) {
  Simulation sim(
      SimConfig{.seed = seed, .network = faulty_network(), .record_events = record_events});
  testing::add_gossip(sim, 8, 50ms);
  Rng& faults = sim.fault_rng();
  for (int i = 0; i < 5; ++i) {
    const auto victim = "peer:" + std::to_string(faults.below(8));
    const Duration when = faults.between(Duration{100ms}, Duration{2s});
    sim.at(time_from_ns(0) + when, [victim](Simulation& s) {
      s.restart(victim, 200ms);
      s.corrupt_disk(victim);
    });
  }
  sim.at(time_from_ns(0) + 1s, [](Simulation& s) {
    s.partition({{"peer:0", "peer:1"}, {"peer:2", "peer:3"}});
    s.set_clock_rate("peer:4", 1.1);
  });
  sim.at(time_from_ns(0) + 2s, [](Simulation& s) { s.heal(); });
  EXPECT_EQ(sim.run_for(3s), RunStatus::deadline);
  EXPECT_GT(sim.counters().messages_delivered, 100U);
  return sim.trace_hash();
}

TEST(Determinism, SameSeedSameTraceHash) {
  EXPECT_EQ(run_hash(1), run_hash(1));
  EXPECT_EQ(run_hash(12345), run_hash(12345));
}

TEST(Determinism, RecordingEventsDoesNotChangeTheHash) {
  EXPECT_EQ(run_hash(9, true), run_hash(9, false));
}

TEST(Determinism, DifferentSeedsDifferentTraceHashes) {
  std::set<std::uint64_t> hashes;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) hashes.insert(run_hash(seed));
  EXPECT_EQ(hashes.size(), 20U);
}

TEST(Determinism, RecordedEventsMatchTheCount) {
  Simulation sim(SimConfig{.seed = 3, .record_events = true});
  testing::add_gossip(sim, 3, 10ms);
  sim.run_for(200ms);
  EXPECT_EQ(sim.trace().events().size(), sim.trace().event_count());
  EXPECT_GT(sim.trace().event_count(), 50U);
  EXPECT_EQ(sim.trace().events().front().kind, EventKind::start);
}

RC_GTEST_PROP(DeterminismProps, AnySeedReplays, (std::uint64_t seed)) {
  RC_ASSERT(run_hash(seed) == run_hash(seed));
}

}  // namespace
}  // namespace omni::sim
