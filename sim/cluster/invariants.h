#pragma once
// The invariant catalog of DESIGN.md, checked after every event. Each checker looks only at
// what the last event could have changed (the stepped process, the nodes the infrastructure
// touched), so a 1,000-node run pays per event, not per component.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/director/fence.h"
#include "model/root/plan.h"
#include "sim/checker.h"
#include "sim/cluster/infrastructure.h"
#include "sim/cluster/run.h"

namespace omni::sim {

// What the run learns as it goes; shared by the checkers, the fault runner and the result.
struct RunState {
  root::Phase root_phase = root::Phase::preflight;
  bool root_failed = false;
  std::string root_failure;
  std::optional<Time> init_done_at;
  std::optional<Time> teardown_at;
  std::vector<PhaseSpan> phases;
  std::uint64_t leader_changes = 0;
  std::uint64_t leader_term = 0;  // the newest term any replica led
  Address leader;
  std::function<void(root::Phase)> on_phase;  // the fault runner's phase triggers
};

// Record the root's phases and the cluster's leaders; never fail.
std::unique_ptr<Checker> make_phase_observer(Simulation& sim, RunState& state);
std::unique_ptr<Checker> make_leader_observer(Simulation& sim, RunState& state);
// At most one leader per term, over the whole run.
std::unique_ptr<Checker> make_election_safety(Simulation& sim);
// A Director's accepted fence never decreases; it never executes a command below the highest
// fence it has accepted; once an Orchestrator controls it, no root command is executed.
std::unique_ptr<Checker> make_director_fencing(Simulation& sim);
// No node or VM is over-committed; no Orchestrator replica runs twice.
std::unique_ptr<Checker> make_infrastructure_checks(Infrastructure& infra);
// A membership change never leaves fewer running voters beyond a quorum than before it.
std::unique_ptr<Checker> make_membership_margin(Simulation& sim);
// The root is gone soon after teardown; it never acts on after it.
std::unique_ptr<Checker> make_root_leaves(Simulation& sim, RunState& state);

// At most one root acts at a time, over all Directors: once a root's command beyond a claim is
// executed anywhere, no other root (another controller at the same epoch, or any older epoch)
// has one executed anywhere. Per-Director fencing alone does not give this: two roots could
// each hold some of the Directors.
std::unique_ptr<Checker> make_single_root(Simulation& sim);

// The event queue stays below `limit`: growth without bound is a message storm.
std::unique_ptr<Checker> make_bounded_queue(Simulation& sim, std::size_t limit);

// State machine safety over every applied entry of every replica: the same index holds the
// same entry everywhere, forever.
class AppliedEntries {
 public:
  explicit AppliedEntries(Simulation& sim) : sim_(sim) {}
  void on_apply(const std::string& replica, std::uint64_t index, std::uint64_t term,
                const std::string& data);
  struct Committed {
    std::uint64_t index = 0;
    std::uint64_t term = 0;
    std::string_view applied_by;  // valid until the next apply: asked after every leader step
  };
  // The highest entry any replica applied: committed, so every later leader must hold it.
  std::optional<Committed> highest() const;

 private:
  struct Applied {
    std::uint64_t term = 0;
    std::uint64_t data_hash = 0;
    std::string first;
  };
  Simulation& sim_;
  std::map<std::uint64_t, Applied> applied_;
};

// Committed entries never disappear (leader completeness): every leader's log holds the highest
// entry any replica applied, at the same term, or a snapshot past it — every leader that no
// running replica has outgrown: a deposed leader that has not heard so yet may lack it.
std::unique_ptr<Checker> make_committed_kept(Simulation& sim, const AppliedEntries& applied);

}  // namespace omni::sim
