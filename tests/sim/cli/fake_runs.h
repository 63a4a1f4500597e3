#pragma once
// Hand-made RunResults, so the command line and the report writers are tested without the
// simulated cluster.
#include "sim/cluster/run.h"

namespace omni::sim::testing {

inline RunResult fake_run(std::uint64_t seed, bool record_events) {
  RunResult r;
  r.seed = seed;
  r.passed = seed % 10 != 3;  // seeds ending in 3 fail
  r.init_completed = true;
  r.init_done_at = Time{} + std::chrono::milliseconds(83456);
  r.root_phase = root::Phase::done;
  r.events = 1000 + seed;
  r.messages = 100 + seed;
  r.leader_changes = 1;
  r.trace_hash = 0x0123456789abcdefULL ^ seed;
  if (!r.passed) {
    Violation v;
    v.invariant = "single-leader";
    v.at = Time{} + std::chrono::seconds(75);
    v.processes = {"orchestrator:1", "orchestrator:2"};
    v.message = "two leaders in term 4";
    v.seed = seed;
    r.violation = v;
    r.expectation_failures = {"leader_changes >= 1 but it was 0"};
  }
  if (!record_events) return r;
  r.addresses = {"root", "director:worker-01", "agent:demo-worker-01-worker-1", "orchestrator:1",
                 "progress"};
  r.locations = {"root-host", "worker-01", "worker-01", "worker-01", "root-host"};
  auto at = [](int ms) { return Time{} + std::chrono::milliseconds(ms); };
  r.phases = {{root::Phase::preflight, at(0), at(10)},
              {root::Phase::directors, at(10), at(500)},
              {root::Phase::workers, at(500), at(900)}};
  r.trace_events = {
      {at(1), EventKind::start, 0, 0, 0},
      {at(20), EventKind::send, 0, 1, 11},     // root -> director: director_command
      {at(21), EventKind::send, 0, 1, 11},     // same pair, same kind, same phase: not drawn
      {at(22), EventKind::deliver, 1, 0, 11},  // pairs with the first send
      {at(23), EventKind::deliver, 1, 0, 11},
      {at(30), EventKind::send, 1, 0, 13},  // director_report
      {at(31), EventKind::drop, 1, 0, 0},
      {at(40), EventKind::tick, 1, 0, 0},
      {at(600), EventKind::send, 0, 1, 11},  // a new phase: drawn again
      {at(650), EventKind::crash, 3, 0, 0},
      {at(700), EventKind::fault, 2, 0, 0},
  };
  return r;
}

}  // namespace omni::sim::testing
