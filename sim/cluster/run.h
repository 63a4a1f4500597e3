#pragma once
// One run of a scenario with one seed: the simulated cluster, its faults and its checkers.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/root/plan.h"
#include "sim/checker.h"
#include "sim/lincheck/history.h"
#include "sim/scenario/scenario.h"
#include "sim/trace.h"

namespace omni::sim {

struct RunOptions {
  bool record_events = false;   // keep every event, for --trace and --mermaid
  bool record_history = false;  // keep the clients' history in the result, for --history
  // Test-only broken components that the checkers must catch.
  bool testing_director_accepts_stale_fence = false;
  bool testing_root_acts_after_teardown = false;
  // The leader removes a running member once the plane is whole (membership_keeps_quorum).
  bool testing_leader_removes_a_running_member = false;
  // The hypervisors and container runtimes accept over-commit, and (the second) the leader's
  // scheduler and the Agents ignore capacity: together they make no_overcommit_no_duplicates
  // fire.
  bool testing_infrastructure_accepts_overcommit = false;
  bool testing_model_ignores_capacity = false;
  // Orchestrators lose their whole disk when they stop (committed_entries_kept).
  bool testing_orchestrator_disks_forget = false;
  // A second root, "root-2", starts with the first, at the same epoch.
  bool testing_second_root = false;
  // Roots take a Director that another root holds at their epoch for their own, so each acts
  // on the Directors it claimed first (single_root).
  bool testing_roots_blind_to_each_other = false;
  // The leader wants its first app replica on two nodes (no_overcommit_no_duplicates).
  bool testing_leader_duplicates_an_app_replica = false;
  // Orchestrators' Raft grants more than one vote per term, without pre-vote (election_safety).
  // Their election timeouts are all but equal, so that followers stand together, as the two
  // candidates of one term that a double vote elects both need.
  bool testing_voters_grant_twice = false;
  // Leaders answer store reads without a read index and never step down for want of a quorum:
  // a deposed leader serves stale reads (linearizable).
  bool testing_leaders_read_locally = false;
};

struct PhaseSpan {
  root::Phase phase;
  Time start{};
  Time end{};
};

struct RunResult {
  std::uint64_t seed = 0;
  bool passed = false;
  std::optional<Violation> violation;             // a safety or liveness invariant broke
  std::vector<std::string> expectation_failures;  // the `expect:` block was not met
  bool init_completed = false;
  bool init_failed = false;
  std::string init_failure;  // the root's reason
  root::Phase root_phase = root::Phase::preflight;
  std::optional<Time> init_done_at;
  std::uint64_t events = 0;
  std::uint64_t messages = 0;
  std::uint64_t leader_changes = 0;
  std::uint64_t trace_hash = 0;
  Time end{};
  // From the moment the run became quiet (the last fault fired and healed) to the moment the
  // cluster converged and stayed so: how long healing took. Unset when it never converged.
  std::optional<Duration> converged_in;
  // With RunOptions::record_events.
  std::vector<TraceEvent> trace_events;
  std::vector<std::string> addresses;  // by address id
  std::vector<std::string> locations;  // by address id: the node (or "root-host") it ran on
  std::vector<PhaseSpan> phases;
  // With `clients:`: how many operations they invoked, and with RunOptions::record_history
  // the history itself.
  std::uint64_t client_ops = 0;
  std::vector<lincheck::Event> history;
  // What faults fired, in order, as a script that replays them (omni-sim shrink).
  std::vector<FiredFault> faults_fired;
  // The events the last leader saw (`omni events`), as "KIND TEXT", oldest first; empty when
  // the run ends without a running leader.
  std::vector<std::string> leader_events;
  std::vector<std::string> checks;  // the invariant checkers that ran, by name
};

RunResult run_scenario(const Scenario& scenario, std::uint64_t seed,
                       const RunOptions& options = {});

}  // namespace omni::sim
