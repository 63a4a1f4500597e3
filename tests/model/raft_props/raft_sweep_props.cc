// The long sweep: 100,000 random fault schedules (25,000 per cluster size 1, 3, 5, 7), disk
// corruption of a minority of replicas included, the same checkers as raft_props. Skipped unless
// OMNI_RAFT_SWEEP=1 (a failure instead under CI=true); OMNI_RAFT_SWEEP_SCHEDULES changes the count
// per size, OMNI_RAFT_SWEEP_FIRST_SEED the first seed. Every violation is printed with its seed and
// schedule (replay: random_schedule(seed, servers, 2 s, 24)).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/model/raft_props/raft_sim.h"
#include "tests/model/raft_props/schedule.h"

namespace omni::raft::props {
namespace {

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* value = std::getenv(name);
  return value == nullptr ? fallback : std::strtoull(value, nullptr, 10);
}

void sweep(std::size_t servers, bool corruption = true) {
  if (env_or("OMNI_RAFT_SWEEP", 0) == 0) {
    // Under CI a skip would read as a pass: there, running the `long` label without asking for
    // the sweep is a mistake and fails. CI's own test command leaves the label out.
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true")
      FAIL() << "the sweep was run under CI=true without OMNI_RAFT_SWEEP=1; set it to run";
    GTEST_SKIP() << "set OMNI_RAFT_SWEEP=1 to run";
  }
  const std::uint64_t schedules = env_or("OMNI_RAFT_SWEEP_SCHEDULES", 25'000);
  const std::uint64_t first = env_or("OMNI_RAFT_SWEEP_FIRST_SEED", 1'000'000);
  RaftSimOptions options;
  options.servers = servers;
  const auto wall_start = std::chrono::steady_clock::now();
  std::uint64_t violations = 0;
  std::uint64_t events = 0;
  std::uint64_t acks = 0;
  std::uint64_t lossy = 0;  // schedules with at least one restart that came back recovering
  std::uint64_t recovering_starts = 0;
  Duration liveness_max{};
  for (std::uint64_t seed = first; seed < first + schedules; ++seed) {
    const Schedule schedule = random_schedule(seed, servers, options.fault_window, 24, corruption);
    const RunResult result = run_schedule(options, schedule);
    events += result.events;
    acks += result.acks;
    lossy += result.recovering_starts > 0 ? 1 : 0;
    recovering_starts += result.recovering_starts;
    if (result.liveness_after_heal.has_value() && *result.liveness_after_heal > liveness_max) {
      liveness_max = *result.liveness_after_heal;
    }
    if (result.violation.has_value()) {
      ++violations;
      if (violations <= 10) {
        std::printf("VIOLATION schedule seed %llu: %s\n  %s\n",
                    static_cast<unsigned long long>(seed), result.violation->to_string().c_str(),
                    to_string(schedule, servers).c_str());
      }
    }
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::printf(
      "sweep servers=%zu corruption=%d schedules=%llu (seeds %llu..%llu) violations=%llu "
      "events=%llu "
      "acks=%llu lossy-schedules=%llu recovering-starts=%llu worst heal->commit=%lld ms "
      "wall=%.1f s\n",
      servers, corruption ? 1 : 0, static_cast<unsigned long long>(schedules),
      static_cast<unsigned long long>(first),
      static_cast<unsigned long long>(first + schedules - 1),
      static_cast<unsigned long long>(violations), static_cast<unsigned long long>(events),
      static_cast<unsigned long long>(acks), static_cast<unsigned long long>(lossy),
      static_cast<unsigned long long>(recovering_starts),
      static_cast<long long>(liveness_max.count() / 1'000'000), wall_s);
  EXPECT_EQ(violations, 0U);
}

TEST(RaftSweep, Invariants_1Server) {
  sweep(1);
}
TEST(RaftSweep, Invariants_3Servers) {
  sweep(3);
}
TEST(RaftSweep, Invariants_5Servers) {
  sweep(5);
}
TEST(RaftSweep, Invariants_7Servers) {
  sweep(7);
}
// The schedules of the earlier corruption-free figures (a drawn `corrupt` becomes `eio`).
TEST(RaftSweep, WithoutCorruption_5Servers) {
  sweep(5, false);
}

}  // namespace
}  // namespace omni::raft::props
