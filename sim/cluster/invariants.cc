#include "sim/cluster/invariants.h"

#include <algorithm>

#include "model/core/assert.h"
#include "model/director/director.h"
#include "model/orchestrator/orchestrator.h"
#include "model/root/root.h"

namespace omni::sim {
namespace {

AddressId stepped_id(const Simulation& sim) {
  const auto id = sim.stepped_in_last_event();
  OMNI_ASSERT(id.has_value(), "asked only after a component stepped");
  return *id;
}

const Address& stepped_address(Simulation& sim) {
  return sim.address(stepped_id(sim));
}

// A checker that reads only the T the last event stepped: the simulation asks it after T's
// steps only (Checker::watches), so the component is a T without a cast checked each time.
template <typename T>
class Watching : public Checker {
 public:
  bool every_event() const final { return false; }
  bool watches(const Component& stepped) const final {
    return dynamic_cast<const T*>(&stepped) != nullptr;
  }

 protected:
  static const T& stepped(Simulation& sim) {
    const Component* component = sim.checked_component();
    OMNI_ASSERT(component != nullptr, "a watching checker runs only after a live component's step");
    return static_cast<const T&>(*component);
  }
};

// Records the root's phases. Never fails.
class PhaseObserver final : public Watching<root::Root> {
 public:
  PhaseObserver(Simulation& sim, RunState& state) : sim_(sim), state_(state) {}
  std::string name() const override { return "phase_observer"; }

  void check_safety(CheckContext& context) override {
    const root::Root& root = stepped(sim_);
    const Time now = context.now();
    if (root.failed() && !state_.root_failed) {
      state_.root_failed = true;
      state_.root_failure = root.failure();
    }
    if (!state_.phases.empty() && root.phase() == state_.root_phase) return;
    if (!state_.phases.empty()) state_.phases.back().end = now;
    state_.root_phase = root.phase();
    state_.phases.push_back(PhaseSpan{root.phase(), now, now});
    // A root usually enters teardown and leaves it for done within one step, so it is seen
    // first at done: teardown began then at the latest.
    if (root.phase() >= root::Phase::teardown && !state_.teardown_at) state_.teardown_at = now;
    if (root.phase() == root::Phase::done) state_.init_done_at = now;
    if (state_.on_phase) state_.on_phase(root.phase());
  }

 private:
  Simulation& sim_;
  RunState& state_;
};

// Records the cluster's leaders. Never fails.
class LeaderObserver final : public Watching<orchestrator::Orchestrator> {
 public:
  LeaderObserver(Simulation& sim, RunState& state) : sim_(sim), state_(state) {}
  std::string name() const override { return "leader_observer"; }

  void check_safety(CheckContext& context) override {
    (void)context;
    const orchestrator::Orchestrator& o = stepped(sim_);
    if (!o.is_leader() || o.term() <= state_.leader_term) return;
    if (!state_.leader.empty()) ++state_.leader_changes;
    state_.leader_term = o.term();
    state_.leader = stepped_address(sim_);
  }

 private:
  Simulation& sim_;
  RunState& state_;
};

class ElectionSafety final : public Watching<orchestrator::Orchestrator> {
 public:
  explicit ElectionSafety(Simulation& sim) : sim_(sim) {}
  std::string name() const override { return "election_safety"; }
  void check_safety(CheckContext& context) override {
    const auto* o = &stepped(sim_);
    if (!o->is_leader()) return;
    // A leader steps at every answer to its heartbeats: the same leader in the same term as the
    // last one recorded needs no look-up.
    const AddressId id = stepped_id(sim_);
    if (last_ && last_->term == o->term() && last_->id == id) return;
    const Address& self = stepped_address(sim_);
    const auto [it, first] = leaders_.try_emplace(o->term(), self);  // no node unless new
    if (!first && it->second != self)
      context.fail(
          "two leaders in term " + std::to_string(o->term()) + ": " + it->second + " and " + self,
          {it->second, self});
    else
      last_ = Leader{o->term(), id};
  }

 private:
  struct Leader {
    std::uint64_t term = 0;
    AddressId id = 0;
  };
  Simulation& sim_;
  std::map<std::uint64_t, Address> leaders_;
  std::optional<Leader> last_;  // only ever a leader that leaders_ holds for its term
};

class DirectorFencing final : public Watching<director::Director> {
 public:
  explicit DirectorFencing(Simulation& sim) : sim_(sim) {}
  std::string name() const override { return "director_fencing"; }
  void check_safety(CheckContext& context) override {
    const auto* d = &stepped(sim_);
    const Address& self = stepped_address(sim_);
    Seen& seen = seen_of(stepped_id(sim_));
    if (d->accepted() < seen.highest)
      context.fail(
          self + " went back from " + to_string(seen.highest) + " to " + to_string(d->accepted()),
          {self});
    const director::ExecutedCommand& executed = d->last_executed();
    // A restarted Director counts from zero again; any growth of the count is a new command.
    if (executed.count != seen.executed_count && executed.count > 0) {
      if (executed.fence < seen.highest)
        context.fail(self + " executed a command at " + to_string(executed.fence) + " from " +
                         executed.controller + " after accepting " + to_string(seen.highest),
                     {self, executed.controller});
      if (executed.fence.era == kRootEra && seen.highest.era == kClusterEra)
        context.fail(self + " executed a root command after takeover", {self, executed.controller});
    }
    seen.executed_count = executed.count;
    seen.highest = std::max(seen.highest, d->accepted());
  }

 private:
  struct Seen {
    FenceValue highest;
    std::uint64_t executed_count = 0;
  };

  Seen& seen_of(AddressId id) {
    if (id >= seen_.size()) seen_.resize(id + 1);
    return seen_[id];
  }

  Simulation& sim_;
  // By address id: a map keyed on names compared "director:node-…" prefixes after every
  // Director step, some 6% of a 5,000-node run.
  std::vector<Seen> seen_;
};

class InfrastructureChecks final : public Checker {
 public:
  explicit InfrastructureChecks(Infrastructure& infra) : infra_(infra) {}
  std::string name() const override { return "no_overcommit_no_duplicates"; }
  void check_safety(CheckContext& context) override {
    if (!infra_.has_dirty_nodes()) return;  // most events touch no VM and no container
    for (const auto& node_name : infra_.take_dirty_nodes()) check_node(context, node_name);
  }

 private:
  void check_node(CheckContext& context, const std::string& node_name) {
    const SimNode& node = infra_.nodes().at(node_name);
    config::Resources used;
    for (const auto& [vm_name, vm] : node.vms) {
      used.cpu_millis += vm.resources.cpu_millis;
      used.memory_bytes += vm.resources.memory_bytes;
      if (vm.running)
        check_unique(context, vm_nodes_, "VM " + vm_name, node_name, vm_running(vm_name));
      check_vm(context, vm_name, vm);
    }
    if (used.cpu_millis > node.capacity.cpu_millis ||
        used.memory_bytes > node.capacity.memory_bytes)
      context.fail("node " + node_name + " is over-committed", {"director:" + node_name});
  }

  void check_vm(CheckContext& context, const std::string& vm_name, const SimVm& vm) {
    config::Resources used;
    for (const auto& [name, c] : vm.containers) {
      used.cpu_millis += c.resources.cpu_millis;
      used.memory_bytes += c.resources.memory_bytes;
      if (!c.running || !vm.running) continue;
      // One desired slot, one container: an app replica or an Orchestrator by its name, and an
      // Orchestrator by the replica it runs as well.
      check_unique(context, container_vms_, "container " + name, vm_name, container_running(name));
      if (!c.process.empty())
        check_unique(context, process_vms_, c.process, vm_name, container_running(name));
    }
    if (used.cpu_millis > vm.resources.cpu_millis || used.memory_bytes > vm.resources.memory_bytes)
      context.fail("VM " + vm_name + " is over-committed", {"agent:" + vm_name});
  }

  using StillRuns = std::function<bool(const std::string& where)>;
  StillRuns vm_running(const std::string& vm_name) const {
    return [this, vm_name](const std::string& node) {
      const auto& vms = infra_.nodes().at(node).vms;
      const auto it = vms.find(vm_name);
      return it != vms.end() && it->second.running;
    };
  }
  StillRuns container_running(const std::string& name) const {
    return [this, name](const std::string& vm_name) {
      const SimVm* vm = infra_.find_vm(vm_name);
      if (!vm || !vm->running) return false;
      const auto c = vm->containers.find(name);
      return c != vm->containers.end() && c->second.running;
    };
  }

  // `what` now runs at `where`; where it ran last must not still run it.
  static void check_unique(CheckContext& context, std::map<std::string, std::string>& last_seen,
                           const std::string& what, const std::string& where,
                           const StillRuns& still_runs) {
    const auto [it, first] = last_seen.emplace(what, where);
    if (first || it->second == where) return;
    if (still_runs(it->second))
      context.fail(what + " runs twice: in " + it->second + " and " + where, {});
    it->second = where;
  }

  Infrastructure& infra_;
  std::map<std::string, std::string> vm_nodes_;       // VM -> the node it last ran on
  std::map<std::string, std::string> container_vms_;  // container -> the VM it last ran in
  std::map<std::string, std::string> process_vms_;    // Orchestrator -> the VM it last ran in
};

// A membership change must never leave the plane closer to losing quorum than it was: the
// running voters beyond a quorum (the margin) are the same or more after the change, counted
// at the same instant for both configurations. A member the change adds counts as running:
// the leader promotes only a learner that has caught up.
class MembershipMargin final : public Watching<orchestrator::Orchestrator> {
 public:
  explicit MembershipMargin(Simulation& sim) : sim_(sim) {}
  std::string name() const override { return "membership_keeps_quorum"; }
  void check_safety(CheckContext& context) override {
    const auto* o = &stepped(sim_);
    if (!o->is_leader()) return;
    const raft::Raft& raft = o->node().raft();
    // The voters change only with the membership's version: at every other leader step (each
    // answer to a heartbeat) there is nothing to compare.
    const AddressId id = stepped_id(sim_);
    const Seen seen{id, sim_.incarnation(id), raft.membership_version()};
    if (term_ == o->term() && seen == seen_) return;
    seen_ = seen;
    const auto& voters = raft.voters();
    if (term_ == o->term() && voters == voters_) return;
    if (term_ == o->term()) {
      const int before = margin(voters_, {});
      const int after = margin(voters, voters_);
      if (after < before)
        context.fail("a membership change at term " + std::to_string(term_) + " left " +
                         std::to_string(after) + " running voters beyond quorum, " +
                         std::to_string(before) + " before (" + joined(voters_) + " -> " +
                         joined(voters) + ")",
                     {stepped_address(sim_)});
    }
    term_ = o->term();
    voters_ = voters;
  }

 private:
  int margin(const std::vector<Address>& voters, const std::vector<Address>& before) const {
    int running = 0;
    for (const auto& v : voters) {
      const bool added = !before.empty() && !contains(before, v);
      if (added || sim_.is_up(v)) ++running;
    }
    return running - root::quorum_of(static_cast<int>(voters.size()));
  }
  static bool contains(const std::vector<Address>& ids, const Address& id) {
    return std::find(ids.begin(), ids.end(), id) != ids.end();
  }
  static std::string joined(const std::vector<Address>& ids) {
    std::string out;
    for (const auto& id : ids) out += (out.empty() ? "" : ",") + id;
    return out;
  }

  // Which leader's configuration voters_ was taken from (a restart counts versions anew).
  struct Seen {
    AddressId leader = 0;
    std::uint64_t incarnation = 0;
    std::uint64_t membership_version = 0;
    bool operator==(const Seen&) const = default;
  };

  Simulation& sim_;
  std::uint64_t term_ = 0;
  std::vector<Address> voters_;
  std::optional<Seen> seen_;
};

class SingleRoot final : public Watching<director::Director> {
 public:
  explicit SingleRoot(Simulation& sim) : sim_(sim) {}
  std::string name() const override { return "single_root"; }
  void check_safety(CheckContext& context) override {
    const auto* d = &stepped(sim_);
    const Address& self = stepped_address(sim_);
    const director::ExecutedCommand& executed = d->last_executed();
    const AddressId id = stepped_id(sim_);
    if (id >= executed_count_.size()) executed_count_.resize(id + 1, 0);
    std::uint64_t& seen = executed_count_[id];
    const bool new_command = executed.count != seen && executed.count > 0;
    seen = executed.count;
    if (!new_command || executed.fence.era != kRootEra || executed.claim_only) return;
    if (!acting_ || acting_->fence < executed.fence) {
      acting_ = Acting{executed.fence, executed.controller, self};
      return;
    }
    // A lower fence of the same root is its dead incarnation's command, still in flight when it
    // crashed, reaching a Director that has not heard the new epoch yet: not a second root (one
    // address runs one process at a time), and per-Director fencing is director_fencing's.
    if (executed.controller != acting_->controller)
      context.fail(self + " executed a command of " + executed.controller + " at " +
                       to_string(executed.fence) + " while " + acting_->controller + " acts at " +
                       to_string(acting_->fence) + " (seen on " + acting_->first_on + ")",
                   {self, executed.controller, acting_->controller});
  }

 private:
  struct Acting {
    FenceValue fence;
    Address controller;
    Address first_on;
  };
  Simulation& sim_;
  std::vector<std::uint64_t> executed_count_;  // by address id
  std::optional<Acting> acting_;
};

class CommittedKept final : public Watching<orchestrator::Orchestrator> {
 public:
  CommittedKept(Simulation& sim, const AppliedEntries& applied) : sim_(sim), applied_(applied) {}
  std::string name() const override { return "committed_entries_kept"; }
  void check_safety(CheckContext& context) override {
    const auto* o = &stepped(sim_);
    record_term(stepped_id(sim_), o->term());
    if (!o->is_leader() || o->term() < newest_running_term()) return;  // deposed, not yet told
    const Address& self = stepped_address(sim_);
    const auto committed = applied_.highest();
    if (!committed) return;
    const raft::RaftLog& log = o->node().raft().log();
    if (committed->index <= log.snapshot_index()) return;  // held by the snapshot
    const auto term = log.term_at(committed->index);
    if (term && *term == committed->term) return;
    context.fail("leader " + self + " at term " + std::to_string(o->term()) +
                     " lacks the committed entry " + std::to_string(committed->index) + " (term " +
                     std::to_string(committed->term) + ", applied by " +
                     std::string(committed->applied_by) + "); its log ends at " +
                     std::to_string(log.last_index()),
                 {self, std::string(committed->applied_by)});
  }

 private:
  // Raft asks completeness of the leaders of later terms; a leader that another running replica
  // has already outgrown is stale (until check-quorum or a message deposes it) and may lack what
  // the newer leader committed. Replicas that restarted with a forgotten disk start low again,
  // which is why this looks at running replicas and not at the newest term ever seen.
  std::uint64_t newest_running_term() const {
    std::uint64_t newest = 0;
    for (const auto& [id, term] : terms_)
      if (sim_.is_up(id)) newest = std::max(newest, term);
    return newest;
  }

  void record_term(AddressId id, std::uint64_t term) {
    const auto it = std::find_if(terms_.begin(), terms_.end(),
                                 [id](const auto& entry) { return entry.first == id; });
    if (it == terms_.end())
      terms_.emplace_back(id, term);
    else
      it->second = term;
  }

  Simulation& sim_;
  const AppliedEntries& applied_;
  // Each replica's term when it last stepped, one entry per replica: a vector by address id
  // was as long as the whole cluster's address book, scanned after every replica step.
  std::vector<std::pair<AddressId, std::uint64_t>> terms_;
};

class RootLeaves final : public Checker {
 public:
  RootLeaves(Simulation& sim, RunState& state) : sim_(sim), state_(state) {}
  std::string name() const override { return "root_leaves_after_teardown"; }
  void check_safety(CheckContext& context) override {
    if (!state_.teardown_at) return;
    if (!root_id_) {  // looked up once: a lookup by name after every event was 3% of a swarm run
      const std::int64_t id = sim_.addresses().find(root::kRootAddress);
      if (id < 0) return;
      root_id_ = static_cast<AddressId>(id);
    }
    if (!sim_.is_up(*root_id_)) return;
    if (context.now() - *state_.teardown_at > kGrace)
      context.fail("the root is still running " +
                       std::to_string(ns_of(context.now() - *state_.teardown_at) / 1'000'000) +
                       "ms after teardown began",
                   {root::kRootAddress});
  }

 private:
  static constexpr Duration kGrace = 5s;
  Simulation& sim_;
  RunState& state_;
  std::optional<AddressId> root_id_;
};

// Everything is bounded (STYLE.md): a run whose queue keeps growing is a message storm, and is
// reported as one instead of eating the machine's memory. A scenario's scheduled faults are not
// counted: they are all queued at the start, as many as the scenario asks for (at the rate swarm
// seed 3 draws them, 54 in ten minutes, a thousand simulated hours would queue over 300,000).
class BoundedQueue final : public Checker {
 public:
  BoundedQueue(Simulation& sim, std::size_t limit) : sim_(sim), limit_(limit) {}
  std::string name() const override { return "bounded_event_queue"; }
  void check_safety(CheckContext& context) override {
    if (sim_.queued_events() <= limit_) return;  // the common case, without the subtraction
    OMNI_ASSERT(sim_.scheduled_actions() <= sim_.queued_events(), "an action is a queued event");
    const std::size_t queued = sim_.queued_events() - sim_.scheduled_actions();
    if (queued > limit_) context.fail(std::to_string(queued) + " events queued: a message storm");
  }

 private:
  Simulation& sim_;
  std::size_t limit_;
};

std::uint64_t fnv1a(const std::string& data) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : data) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

}  // namespace

void AppliedEntries::on_apply(const std::string& replica, std::uint64_t index, std::uint64_t term,
                              const std::string& data) {
  OMNI_ASSERT(index > 0);
  const Applied entry{term, fnv1a(data), replica};
  const auto [it, first] = applied_.emplace(index, entry);
  if (!first && (it->second.term != term || it->second.data_hash != entry.data_hash))
    sim_.report_violation("state_machine_safety",
                          replica + " applied a different entry at index " + std::to_string(index) +
                              " (term " + std::to_string(term) + ") than " + it->second.first +
                              " (term " + std::to_string(it->second.term) + ")",
                          {replica, it->second.first});
}

std::optional<AppliedEntries::Committed> AppliedEntries::highest() const {
  if (applied_.empty()) return std::nullopt;
  const auto& [index, entry] = *applied_.rbegin();
  return Committed{index, entry.term, entry.first};
}

std::unique_ptr<Checker> make_phase_observer(Simulation& sim, RunState& state) {
  return std::make_unique<PhaseObserver>(sim, state);
}
std::unique_ptr<Checker> make_leader_observer(Simulation& sim, RunState& state) {
  return std::make_unique<LeaderObserver>(sim, state);
}
std::unique_ptr<Checker> make_election_safety(Simulation& sim) {
  return std::make_unique<ElectionSafety>(sim);
}
std::unique_ptr<Checker> make_director_fencing(Simulation& sim) {
  return std::make_unique<DirectorFencing>(sim);
}
std::unique_ptr<Checker> make_infrastructure_checks(Infrastructure& infra) {
  return std::make_unique<InfrastructureChecks>(infra);
}
std::unique_ptr<Checker> make_bounded_queue(Simulation& sim, std::size_t limit) {
  return std::make_unique<BoundedQueue>(sim, limit);
}

std::unique_ptr<Checker> make_membership_margin(Simulation& sim) {
  return std::make_unique<MembershipMargin>(sim);
}

std::unique_ptr<Checker> make_single_root(Simulation& sim) {
  return std::make_unique<SingleRoot>(sim);
}

std::unique_ptr<Checker> make_committed_kept(Simulation& sim, const AppliedEntries& applied) {
  return std::make_unique<CommittedKept>(sim, applied);
}

std::unique_ptr<Checker> make_root_leaves(Simulation& sim, RunState& state) {
  return std::make_unique<RootLeaves>(sim, state);
}

}  // namespace omni::sim
