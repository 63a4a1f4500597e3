// The whole `omni init` and the closed loop in simulation, end to end.
#include <gtest/gtest.h>

#include <algorithm>
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

// A fault at an absolute time, or (relative) after the one before it.
Fault fault_at(Duration at, decltype(Fault::what) what, bool relative = false) {
  Fault f;
  f.at = FaultTime{relative ? FaultTime::Kind::relative : FaultTime::Kind::absolute, at,
                   root::Phase::preflight};
  f.what = std::move(what);
  return f;
}

// Each address the run saw, and the node (or root-host) it ran on.
std::map<std::string, std::string> where_ran(const RunResult& r) {
  std::map<std::string, std::string> where;
  for (std::size_t i = 0; i < r.addresses.size(); ++i) where[r.addresses[i]] = r.locations[i];
  return where;
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

// The scenario with an app `web` of `replicas` replicas, expected all running at the end.
Scenario with_web_app(Scenario s, int replicas) {
  s.cluster_yaml +=
      "apps:\n  - {name: web, image: omni/web, replicas: " + std::to_string(replicas) +
      ", resources: {cpu: 1, memory: 1Gi}}\n";
  s.cluster = *config::parse_cluster_config(s.cluster_yaml, "inline").config;
  s.expect.apps_running_all = true;
  return s;
}

bool has_event(const RunResult& r, const std::string& text) {
  return std::any_of(r.leader_events.begin(), r.leader_events.end(),
                     [&](const std::string& e) { return e.find(text) != std::string::npos; });
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

// What `omni events` shows: the leader tells its election, the members, the Directors it
// controls, and the lost Director VM it creates again, once, before that Director is controlled
// again. (VMs and containers going down and up: EventsTellMembersReplacedAndAppsRescheduled
// and the real cluster's InitLocal tests.)
TEST(ClusterRun, TheLeaderTellsWhatHappenedAsEvents) {
  const RunResult r = run_scenario(with_vm_crash("t-n2-director", 10min), 1);
  ASSERT_TRUE(r.passed) << describe(r);
  const std::string all = joined(r.leader_events);
  EXPECT_TRUE(has_event(r, "leader orchestrator:")) << all;
  EXPECT_TRUE(has_event(r, " leads at term ")) << all;
  EXPECT_TRUE(has_event(r, "member voters: orchestrator:1")) << all;
  EXPECT_TRUE(has_event(r, "director controls the Director on n1 at term")) << all;
  EXPECT_TRUE(has_event(r,
                        "director the Director on n2 is silent: creating its VM t-n2-director "
                        "again"))
      << all;
  EXPECT_FALSE(has_event(r, "keeps failing")) << all;
  // Told once each, in the order seen: the Director on n2 is controlled again after its VM.
  const auto silent = std::find_if(r.leader_events.begin(), r.leader_events.end(),
                                   [](const auto& e) { return e.find("is silent") != e.npos; });
  ASSERT_NE(silent, r.leader_events.end());
  EXPECT_EQ(std::count_if(r.leader_events.begin(), r.leader_events.end(),
                          [](const auto& e) { return e.find("is silent") != e.npos; }),
            1)
      << all;
  EXPECT_NE(
      std::find_if(silent, r.leader_events.end(),
                   [](const auto& e) { return e.find("controls the Director on n2") != e.npos; }),
      r.leader_events.end())
      << all;
}

// Apps and members as events: a node lost for good shows its member leaving and a replacement
// joining, and the app's replica there moving, its count going down and back up.
TEST(ClusterRun, EventsTellMembersReplacedAndAppsRescheduled) {
  Scenario s = with_web_app(testing::cluster_of(5, 3), 3);
  s.duration = 30min;
  s.faults.push_back(fault_at(10min, PowerOffFault{"n3"}));
  const RunResult r = run_scenario(s, 1);
  ASSERT_TRUE(r.passed) << describe(r);
  const std::string all = joined(r.leader_events);
  EXPECT_TRUE(has_event(r, "member orchestrator:4 joined as a learner")) << all;
  EXPECT_TRUE(has_event(r, "member orchestrator:4 is a voter")) << all;
  EXPECT_TRUE(has_event(r, "member orchestrator:3 left the plane")) << all;
  EXPECT_TRUE(has_event(r, "app web: 3/3 running, 3 placed")) << all;
  EXPECT_TRUE(has_event(r, "app web: 2/3 running")) << all;
  // Before its replicas first run, none running is news; after, a leader that says so has not
  // heard the Directors yet (a new leader counts once it heard all).
  const auto all_ran = std::find_if(r.leader_events.begin(), r.leader_events.end(), [](auto& e) {
    return e.find("app web: 3/3 running") != e.npos;
  });
  EXPECT_EQ(std::find_if(all_ran, r.leader_events.end(),
                         [](auto& e) { return e.find("app web: 0/3 running") != e.npos; }),
            r.leader_events.end())
      << all;
  // The replica that was on n3 is told placed twice: where it was, then where it moved.
  EXPECT_EQ(
      std::count_if(r.leader_events.begin(), r.leader_events.end(),
                    [](const auto& e) { return e.starts_with("app web replica 3 placed on "); }),
      2)
      << all;
  EXPECT_TRUE(has_event(r, "app web replica 3 placed on t-n3-worker-1")) << all;
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

// The first injected disk error (fail-stop) of `address` at or after `after`, from the trace.
std::optional<Time> first_persist_failure(const RunResult& r, const std::string& address) {
  for (const auto& e : r.trace_events)
    if (e.kind == EventKind::persist_fail && e.process < r.addresses.size() &&
        r.addresses[e.process] == address)
      return e.at;
  return std::nullopt;
}

// A scripted `eio` makes the process stop on its next write, as a real host does on an fsync
// error. What supervises it must see that: the Agent restarts an Orchestrator's container; a
// Director or Agent is its VM's init, so its VM goes down and is booted again by whoever
// supervises that VM. Before, the dead process's container or VM still counted as running, and
// only the replacement of a member silent for 10 minutes healed it.
TEST(ClusterRun, AProcessStoppedByADiskErrorIsBroughtBackByItsSupervisor) {
  for (const auto& [target, address] : std::vector<std::pair<Target, std::string>>{
           {{Target::Kind::orchestrator, "2"}, "orchestrator:2"},
           {{Target::Kind::director, "n2"}, "director:n2"},
           {{Target::Kind::agent, "t-n3-worker-1"}, "agent:t-n3-worker-1"}}) {
    Scenario s = testing::cluster_of(3, 3);
    Fault eio;
    eio.at = FaultTime{FaultTime::Kind::phase, 0ns, root::Phase::done};  // while it still writes
    eio.what = DiskFailFault{target, DiskFailMode::eio};
    s.faults.push_back(eio);
    Fault new_leader;  // an election and a new controller make every process write
    new_leader.at = FaultTime{FaultTime::Kind::relative, 1s, root::Phase::preflight};
    new_leader.what = CrashFault{Target{Target::Kind::leader, ""}};
    s.faults.push_back(new_leader);
    RunOptions options;
    options.record_events = true;
    const RunResult r = run_scenario(s, 1, options);
    ASSERT_TRUE(r.passed) << address << ": " << describe(r);
    const auto failed = first_persist_failure(r, address);
    ASSERT_TRUE(failed.has_value()) << address << " never wrote after the fault";
    const auto back = first_start_after(r, address, *failed);
    ASSERT_TRUE(back.has_value()) << address << " never came back";
    EXPECT_LT(*back, *failed + 2min) << address;
  }
}

// A replacement that can never run must not hold back the next: n1 (with a replica) loses power
// while n4 hears nothing (its Director's reports still reach the leader, so the leader places the
// replacement there). The learner never answers; after learner_catch_up_within the leader gives
// its place back and places another replica on n5, avoiding n4.
TEST(ClusterRun, AStuckLearnerGivesItsPlaceToAnotherReplacement) {
  Scenario s = testing::cluster_of(5, 3);
  s.duration = 45min;
  s.faults.push_back(fault_at(10min, PowerOffFault{"n1"}));
  // Once a leader controls every Director again, whoever it is:
  s.faults.push_back(fault_at(30s, IsolateFault{"n4", Direction::in}, true));
  s.faults.push_back(fault_at(30min, HealFault{}));
  s.expect.counters.push_back({"orchestrators", "==", 3});
  RunOptions options;
  options.record_events = true;
  const RunResult r = run_scenario(s, 1, options);
  ASSERT_TRUE(r.passed) << describe(r);
  auto where = where_ran(r);
  EXPECT_FALSE(first_start_after(r, "orchestrator:4", Time{}).has_value())
      << "the first replacement, on the deaf node, never ran";
  EXPECT_EQ(where["orchestrator:5"], "n5");
  EXPECT_TRUE(first_start_after(r, "orchestrator:5", Time{} + 10min).has_value());
}

// Two of three nodes lose power for good: no majority is left, and nothing may be guessed around
// that. The replica that is left says so plainly, with the members that must come back.
TEST(ClusterRun, AMajorityLostForGoodIsReportedPlainly) {
  Scenario s = testing::cluster_of(3, 3);
  s.duration = 20min;
  for (const std::string node : {"n2", "n3"})
    s.faults.push_back(fault_at(10min, PowerOffFault{node}));
  const RunResult r = run_scenario(s, 1);
  ASSERT_TRUE(r.violation.has_value()) << describe(r);
  EXPECT_EQ(r.violation->invariant, "converges");
  const std::string& m = r.violation->message;
  EXPECT_NE(m.find("orchestrator:1 reports the quorum lost: bring back at least 1 of "
                   "orchestrator:2 (on n2), orchestrator:3 (on n3)"),
            std::string::npos)
      << m;
}

// Seven nodes, five Orchestrators on n1..n5, an app of seven replicas; n1 and n2 lose power for
// good. Each lost member is replaced in turn (placed, caught up as a learner, promoted, then
// removed), on the nodes that host no replica; the app's replicas there are placed again; the
// cluster ends healthy with five running voters and all seven app replicas running.
TEST(ClusterRun, ASevenNodeClusterThatLosesTwoNodesForGoodEndsWithAllItsMembersAndApps) {
  Scenario s = with_web_app(testing::cluster_of(7, 5), 7);
  s.duration = 40min;
  for (const std::string node : {"n1", "n2"})
    s.faults.push_back(fault_at(10min, PowerOffFault{node}));
  s.expect.counters.push_back({"orchestrators", "==", 5});
  RunOptions options;
  options.record_events = true;
  const RunResult r = run_scenario(s, 1, options);
  ASSERT_TRUE(r.passed) << describe(r);
  auto where = where_ran(r);
  EXPECT_EQ(where["orchestrator:6"], "n6");
  EXPECT_EQ(where["orchestrator:7"], "n7");
  EXPECT_EQ(where.count("orchestrator:8"), 0u) << "one replacement per lost member";
}

}  // namespace
}  // namespace omni::sim
