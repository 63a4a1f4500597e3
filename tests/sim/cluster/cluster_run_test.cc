// The whole `omni init` and the closed loop in simulation, end to end.
#include <gtest/gtest.h>

#include <map>

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

// The first (re)start of `address` at or after `after`, from the recorded trace.
std::optional<Time> first_start_after(const RunResult& r, const std::string& address, Time after) {
  for (const auto& e : r.trace_events) {
    if (e.kind != EventKind::start || e.at < after) continue;
    if (e.process < r.addresses.size() && r.addresses[e.process] == address) return e.at;
  }
  return std::nullopt;
}

Scenario with_orchestrator_crash(std::optional<Duration> restart_after) {
  Scenario s = testing::cluster_of(3, 3);
  Fault crash;
  crash.at = FaultTime{FaultTime::Kind::absolute, 10min, root::Phase::preflight};
  crash.what = CrashFault{Target{Target::Kind::orchestrator, "2"}};
  crash.restart_after = restart_after;
  s.faults.push_back(crash);
  return s;
}

// `restart_after` on an Orchestrator holds its process down that long although its Agent
// restarts the container; without it, the Agent's supervision brings it back quickly.
TEST(ClusterRun, RestartAfterOnAnOrchestratorIsHonoured) {
  RunOptions options;
  options.record_events = true;
  const RunResult held = run_scenario(with_orchestrator_crash(3min), 1, options);
  ASSERT_TRUE(held.passed) << describe(held);
  const auto held_back = first_start_after(held, "orchestrator:2", Time{} + 10min);
  ASSERT_TRUE(held_back.has_value());
  EXPECT_GE(*held_back, Time{} + 13min);
  EXPECT_LT(*held_back, Time{} + 14min);

  const RunResult supervised = run_scenario(with_orchestrator_crash(std::nullopt), 1, options);
  ASSERT_TRUE(supervised.passed) << describe(supervised);
  const auto back = first_start_after(supervised, "orchestrator:2", Time{} + 10min);
  ASSERT_TRUE(back.has_value());
  EXPECT_LT(*back, Time{} + 11min) << "the Agent restarts a crashed container by itself";
}

Scenario with_vm_crash(const std::string& vm, Duration at) {
  Scenario s = testing::cluster_of(3, 3);
  Fault crash;
  crash.at = FaultTime{FaultTime::Kind::absolute, at, root::Phase::preflight};
  crash.what = CrashFault{Target{Target::Kind::vm, vm}};
  s.faults.push_back(crash);
  return s;
}

// Nothing restarts a crashed Director VM on its own: the leader notices the silent Director
// and has the node's hypervisor boot its VM again, then controls it at its term.
TEST(ClusterRun, ALostDirectorVmIsBootedAgainByTheLeader) {
  RunOptions options;
  options.record_events = true;
  const RunResult r = run_scenario(with_vm_crash("t-n2-director", 10min), 1, options);
  ASSERT_TRUE(r.passed) << describe(r);
  const auto back = first_start_after(r, "director:n2", Time{} + 10min);
  ASSERT_TRUE(back.has_value()) << "the Director came back";
  EXPECT_LT(*back, Time{} + 12min) << "within director_lost_after and a VM boot";
}

// Convergence looks at worker VMs and their Agents, not only at Directors and members: a
// worker VM that crashes just before the end has not booted again, and the run says so.
TEST(ClusterRun, ConvergenceWaitsForWorkerVmsAndTheirAgents) {
  const RunResult early = run_scenario(with_vm_crash("t-n3-worker-1", 10min), 1);
  ASSERT_TRUE(early.passed) << describe(early);
  const RunResult late = run_scenario(with_vm_crash("t-n3-worker-1", 30min - 2s), 1);
  ASSERT_TRUE(late.violation.has_value()) << describe(late);
  EXPECT_EQ(late.violation->invariant, "converges");
  EXPECT_NE(late.violation->message.find("t-n3-worker-1"), std::string::npos)
      << late.violation->message;
}

// Seven nodes, five Orchestrators on n1..n5, an app of seven replicas; n1 and n2 lose power for
// good. Each lost member is replaced in turn (placed, caught up as a learner, promoted, then
// removed), on the nodes that host no replica; the app's replicas there are placed again; the
// cluster ends healthy with five running voters and all seven app replicas running.
TEST(ClusterRun, ASevenNodeClusterThatLosesTwoNodesForGoodEndsWithAllItsMembersAndApps) {
  Scenario s = testing::cluster_of(7, 5);
  s.cluster_yaml +=
      "apps:\n  - {name: web, image: omni/web, replicas: 7, resources: {cpu: 1, "
      "memory: 1Gi}}\n";
  s.cluster = *config::parse_cluster_config(s.cluster_yaml, "inline").config;
  s.expect.apps_running_all = true;
  s.duration = 40min;
  for (const std::string node : {"n1", "n2"}) {
    Fault off;
    off.at = FaultTime{FaultTime::Kind::absolute, 10min, root::Phase::preflight};
    off.what = PowerOffFault{node};
    s.faults.push_back(off);
  }
  s.expect.counters.push_back({"orchestrators", "==", 5});
  RunOptions options;
  options.record_events = true;
  const RunResult r = run_scenario(s, 1, options);
  ASSERT_TRUE(r.passed) << describe(r);
  std::map<std::string, std::string> where;
  for (std::size_t i = 0; i < r.addresses.size(); ++i) where[r.addresses[i]] = r.locations[i];
  EXPECT_EQ(where["orchestrator:6"], "n6");
  EXPECT_EQ(where["orchestrator:7"], "n7");
  EXPECT_EQ(where.count("orchestrator:8"), 0u) << "one replacement per lost member";
}

}  // namespace
}  // namespace omni::sim
