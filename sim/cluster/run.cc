#include "sim/cluster/run.h"

#include <algorithm>
#include <set>

#include "model/agent/agent.h"
#include "model/core/assert.h"
#include "model/director/director.h"
#include "model/orchestrator/apps.h"
#include "model/orchestrator/orchestrator.h"
#include "model/root/root.h"
#include "sim/cluster/admin_client.h"
#include "sim/cluster/faults.h"
#include "sim/cluster/infrastructure.h"
#include "sim/cluster/invariants.h"
#include "sim/cluster/store_client.h"
#include "sim/lincheck/lincheck.h"

namespace omni::sim {
namespace {

constexpr Duration kSlice = 1s;    // how often the run looks at convergence
constexpr Duration kSettle = 10s;  // quiet time before a converged run may stop early
constexpr std::size_t kMaxQueuedEventsPerNode = 10'000;
// The event budget: a backstop for a storm that neither grows the queue nor stops the clock. A
// healthy cluster steps some 18 events a node per simulated second (35 with the 50 ms heartbeat
// of before 2026-12-05); the budget allows over a hundred times that for the run's whole duration,
// so a long run is not cut as a storm (a fixed budget ended a healthy 3-node run at about 50
// simulated hours).
constexpr std::uint64_t kMaxEventsPerNode = 2'000'000;
constexpr std::uint64_t kMaxEventsPerNodeSecond = 3'000;

std::uint64_t event_budget(const Scenario& scenario) {
  const auto nodes =
      static_cast<std::uint64_t>(std::max<std::size_t>(10, scenario.cluster.nodes.size()));
  const auto seconds = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(scenario.duration).count());
  return nodes * (kMaxEventsPerNode + kMaxEventsPerNodeSecond * seconds);
}

class ClusterRun {
 public:
  ClusterRun(const Scenario& scenario, std::uint64_t seed, const RunOptions& options)
      : scenario_(scenario),
        options_(options),
        sim_(SimConfig{.seed = seed,
                       .record_events = options.record_events,
                       .max_events = event_budget(scenario)}),
        applied_(sim_) {
    infra_ = std::make_unique<Infrastructure>(sim_, scenario_, factories());
    faults_ = std::make_unique<FaultRunner>(sim_, *infra_, scenario_, state_);
    if (options_.testing_infrastructure_accepts_overcommit) infra_->testing_accept_overcommit();
    if (options_.testing_orchestrator_disks_forget) infra_->testing_forget_orchestrator_disks();
    state_.on_phase = [this](root::Phase p) { faults_->on_phase(p); };
    sim_.set_driver_handler(std::make_unique<DriverForwarder>(*infra_));
    sim_.set_location_resolver([this](const Address& a) { return infra_->location_of(a); });
    sim_.set_exit_listener([this](const Address& a) { infra_->on_process_exit(a); });
    sim_.add_checker(make_phase_observer(sim_, state_));
    sim_.add_checker(make_leader_observer(sim_, state_));
    sim_.add_checker(make_committed_kept(sim_, applied_));
    sim_.add_checker(make_election_safety(sim_));
    sim_.add_checker(make_single_root(sim_));
    sim_.add_checker(make_director_fencing(sim_));
    sim_.add_checker(make_infrastructure_checks(*infra_));
    sim_.add_checker(make_root_leaves(sim_, state_));
    sim_.add_checker(make_membership_margin(sim_));
    sim_.add_checker(make_bounded_queue(
        sim_, kMaxQueuedEventsPerNode * scenario_.cluster.nodes.size() + 100'000));
  }

  RunResult run() {
    const auto root = [this](const Address& self) {
      root::RootConfig c;
      c.self = self;
      c.testing_ignore_other_roots = options_.testing_roots_blind_to_each_other;
      c.cluster = scenario_.cluster;
      c.testing_act_after_teardown = options_.testing_root_acts_after_teardown;
      return [c](Rng) { return std::make_unique<root::Root>(c); };
    };
    sim_.add_process(root::kRootAddress, root(root::kRootAddress));
    if (options_.testing_second_root) sim_.add_process("root-2", root("root-2"));
    if (has_app_faults()) {
      std::vector<Address> replicas = orchestrator_addresses();
      sim_.add_process(std::string(kAdminAddress),
                       [replicas](Rng) { return std::make_unique<AdminClient>(replicas); });
    }
    faults_->arm();
    const Time deadline = Time{scenario_.duration};
    while (sim_.now() < deadline && !sim_.violation()) {
      if (sim_.run_until(std::min(deadline, sim_.now() + kSlice)) == RunStatus::event_limit) {
        sim_.report_violation("event_budget",
                              "the run used its whole event budget: a livelock or a storm", {});
        break;
      }
      start_clients();
      observe_convergence();
      if (may_stop()) break;
    }
    if (!sim_.violation()) check_liveness();
    if (!sim_.violation()) check_history();
    return result();
  }

 private:
  // The simulation owns its handler; the infrastructure must outlive it and be reachable here.
  class DriverForwarder final : public DriverHandler {
   public:
    explicit DriverForwarder(Infrastructure& infra) : infra_(infra) {}
    void call(const Address& caller, const DriverTicket& t, const DriverOp& op,
              DriverHost& host) override {
      infra_.call(caller, t, op, host);
    }

   private:
    Infrastructure& infra_;
  };

  std::vector<Address> orchestrator_addresses() const {
    std::vector<Address> replicas;
    for (int r = 1; r <= scenario_.cluster.orchestrators; ++r)
      replicas.push_back("orchestrator:" + std::to_string(r));
    return replicas;
  }

  // The clients use the plane, so they start once the root has handed it over.
  void start_clients() {
    if (!scenario_.clients || clients_started_ || !state_.init_done_at) return;
    clients_started_ = true;
    const ClientsSpec& spec = *scenario_.clients;
    for (int i = 0; i < spec.count; ++i) {
      sim_.add_process(std::string(kClientPrefix) + std::to_string(i + 1),
                       [this, i, replicas = orchestrator_addresses(), spec](Rng rng) {
                         return std::make_unique<StoreClient>(i, replicas, spec, rng, history_);
                       });
    }
    OMNI_ASSERT(clients_started_ && history_.events.empty());
  }

  void check_history() {
    if (!scenario_.clients || !scenario_.expect.linearizable) return;
    const lincheck::Verdict verdict = lincheck::check_history(history_.events);
    if (verdict.exhausted) {
      sim_.report_violation("linearizable",
                            "the clients' history was too hard to check: " + verdict.report, {});
    } else if (!verdict.linearizable) {
      sim_.report_violation("linearizable",
                            "what the clients saw is not linearizable: " + verdict.report, {});
    }
  }

  bool has_app_faults() const {
    return std::any_of(scenario_.faults.begin(), scenario_.faults.end(), [](const Fault& f) {
      return std::holds_alternative<ApplyFault>(f.what) ||
             std::holds_alternative<DeleteAppFault>(f.what);
    });
  }

  ComponentFactories factories() {
    ComponentFactories f;
    f.director = [this](const std::string& node, const std::string& vm) -> ComponentFactory {
      director::DirectorConfig c;
      c.node = node;
      c.own_vm = vm;
      c.capacity = infra_->nodes().at(node).capacity;
      c.director_vm = scenario_.cluster.director_vm;
      c.testing_accept_stale_fence = options_.testing_director_accepts_stale_fence;
      return [c](Rng) { return std::make_unique<director::Director>(c); };
    };
    f.agent = [testing_model_ignores_capacity = options_.testing_model_ignores_capacity](
                  const std::string& node, const std::string& vm,
                  const config::Resources& r) -> ComponentFactory {
      agent::AgentConfig c;
      c.vm = vm;
      c.director = director::director_address(node);
      c.capacity = r;
      c.testing_ignore_capacity = testing_model_ignores_capacity;
      return [c](Rng) { return std::make_unique<agent::Agent>(c); };
    };
    f.container = [this](const SimContainer& container) -> std::pair<Address, ComponentFactory> {
      // Only the project's image runs an Orchestrator: an app's args cannot make one.
      if (container.image != root::RootConfig{}.orchestrator_image) return {"", nullptr};
      auto config = orchestrator::Orchestrator::from_args(container.args);
      if (!config) return {"", nullptr};
      config->testing_remove_a_running_member = options_.testing_leader_removes_a_running_member;
      config->testing_scheduler_ignores_capacity = options_.testing_model_ignores_capacity;
      config->testing_place_an_app_replica_twice =
          options_.testing_leader_duplicates_an_app_replica;
      if (options_.testing_leaders_read_locally) {
        config->testing_reads_skip_read_index = true;
        config->raft.check_quorum = false;
      }
      if (options_.testing_voters_grant_twice) {
        config->raft.testing_grant_multiple_votes_per_term = true;
        config->raft.pre_vote = false;
        config->raft.election_timeout_max = config->raft.election_timeout_min + 5ms;
      }
      const Address self = config->self;
      return {self, [this, c = *config](Rng rng) {
                auto o = std::make_unique<orchestrator::Orchestrator>(c, rng);
                o->set_apply_observer([this](const std::string& node, const v1::RaftEntry& e) {
                  applied_.on_apply(node, e.index(), e.term(), e.data());
                });
                return o;
              }};
    };
    return f;
  }

  // Converged: one leader at the newest term, every Director of a powered node controlled by
  // it at that term, every worker VM the Director wants running with its Agent up, every
  // Orchestrator replica running. Returns what is missing, or nothing.
  std::optional<std::string> not_converged() const {
    const Address leader = state_.leader;
    const auto* o = leader.empty() || !sim_.is_up(leader)
                        ? nullptr
                        : dynamic_cast<const orchestrator::Orchestrator*>(sim_.component(leader));
    if (!o || !o->is_leader()) return "no leader" + quorum_lost_reports();
    for (const auto& node : scenario_.cluster.nodes) {
      if (!infra_->nodes().at(node.name).powered) continue;  // gone for good: nothing to ask
      const Address d = director::director_address(node.name);
      const auto* dir = sim_.addresses().find(d) >= 0 && sim_.is_up(d)
                            ? dynamic_cast<const director::Director*>(sim_.component(d))
                            : nullptr;
      if (!dir) return d + " is down";
      if (dir->controller() != leader || dir->accepted() != FenceValue{kClusterEra, o->term()})
        return d + " is not controlled by " + leader + " at term " + std::to_string(o->term());
      if (auto why = worker_vms_missing(*dir)) return why;
    }
    // The members are whatever the leader's configuration says: replacements have new numbers.
    const raft::Raft& raft = o->node().raft();
    if (static_cast<int>(raft.voters().size()) != scenario_.cluster.orchestrators ||
        !raft.learners().empty())
      return "the leader has " + std::to_string(raft.voters().size()) + " voters and " +
             std::to_string(raft.learners().size()) + " learners, expected " +
             std::to_string(scenario_.cluster.orchestrators) + " voters";
    for (const auto& member : raft.voters())
      if (!is_running(member)) return member + " is not running";
    return apps_missing(*o);
  }

  // Every app replica the leader placed runs where it was placed, and every replica is placed
  // or reported unschedulable: the scheduler has nothing left to do.
  std::optional<std::string> apps_missing(const orchestrator::Orchestrator& o) const {
    const std::string& cluster = scenario_.cluster.name;
    std::map<std::string, v1::ContainerSpec> wanted;
    for (const auto& app : o.apps()) wanted[app.name] = app.container;
    for (const auto& p : o.state().app_placements()) {
      const SimVm* vm = infra_->find_vm(p.vm());
      const std::string name = orchestrator::app_container_name(cluster, p.app(), p.index());
      const auto c = vm ? vm->containers.find(name) : decltype(vm->containers.end()){};
      if (!vm || c == vm->containers.end() || !c->second.running)
        return "app replica " + name + " is not running on " + p.vm();
      if (const auto spec = wanted.find(p.app());
          spec != wanted.end() && !runs_spec(c->second, spec->second))
        return "app replica " + name + " runs " + c->second.image + ", not the app's " +
               spec->second.image() + " (or other args or resources)";
    }
    for (const auto& app : o.apps())
      if (app.placed + app.unschedulable_replicas != app.desired)
        return "app " + app.name + " has " + std::to_string(app.placed) + " of " +
               std::to_string(app.desired) + " replicas placed";
    return std::nullopt;
  }

  // What the live replicas that see the quorum lost say of it, as a person would read it.
  std::string quorum_lost_reports() const {
    std::string text;
    for (std::size_t id = 0; id < sim_.addresses().size(); ++id) {
      const auto* o = dynamic_cast<const orchestrator::Orchestrator*>(
          sim_.component(static_cast<AddressId>(id)));
      if (!o) continue;
      const orchestrator::PlaneView plane = o->plane();
      if (plane.state == "quorum lost")
        text += "; " + sim_.address(id) + " reports the quorum lost: " + plane.advice;
    }
    return text;
  }

  static bool runs_spec(const SimContainer& c, const v1::ContainerSpec& spec) {
    return c.image == spec.image() &&
           std::equal(c.args.begin(), c.args.end(), spec.args().begin(), spec.args().end()) &&
           c.resources.cpu_millis == spec.resources().cpu_millis() &&
           c.resources.memory_bytes == spec.resources().memory_bytes();
  }

  // App containers running on powered nodes (any container that is not an Orchestrator).
  std::int64_t running_app_replicas() const {
    std::int64_t running = 0;
    for (const auto& [name, node] : infra_->nodes()) {
      if (!node.powered) continue;
      for (const auto& [vm_name, vm] : node.vms)
        for (const auto& [cname, c] : vm.containers)
          if (c.running && c.image != root::RootConfig{}.orchestrator_image) ++running;
    }
    return running;
  }

  std::vector<std::string> leader_events() const {
    std::vector<std::string> lines;
    const auto* o =
        is_running(state_.leader)
            ? dynamic_cast<const orchestrator::Orchestrator*>(sim_.component(state_.leader))
            : nullptr;
    if (!o || !o->is_leader()) return lines;
    for (const auto& e : o->events().events()) lines.push_back(e.kind + " " + e.text);
    return lines;
  }

  std::int64_t desired_app_replicas() const {
    const auto* o =
        is_running(state_.leader)
            ? dynamic_cast<const orchestrator::Orchestrator*>(sim_.component(state_.leader))
            : nullptr;
    if (!o || !o->is_leader()) return -1;
    std::int64_t desired = 0;
    for (const auto& app : o->apps()) desired += app.desired;
    return desired;
  }

  bool is_running(const Address& a) const { return sim_.addresses().find(a) >= 0 && sim_.is_up(a); }

  // The leader's voting members that run, as `expect: orchestrators` counts them.
  std::int64_t running_voters() const {
    const auto* o =
        is_running(state_.leader)
            ? dynamic_cast<const orchestrator::Orchestrator*>(sim_.component(state_.leader))
            : nullptr;
    if (!o || !o->is_leader()) return 0;
    const auto& voters = o->node().raft().voters();
    return std::count_if(voters.begin(), voters.end(),
                         [this](const Address& a) { return is_running(a); });
  }

  std::optional<std::string> worker_vms_missing(const director::Director& dir) const {
    for (const auto& spec : dir.desired_vms()) {
      const SimVm* vm = infra_->find_vm(spec.name());
      if (!vm || !vm->running) return "worker VM " + spec.name() + " is not running";
      const Address agent = director::agent_address(spec.name());
      if (sim_.addresses().find(agent) < 0 || !sim_.is_up(agent)) return agent + " is down";
    }
    return std::nullopt;
  }

  void observe_convergence() {
    const auto quiet = faults_->quiet_since();
    if (!quiet || sim_.now() < *quiet || !state_.init_done_at) {
      converged_at_.reset();
      return;
    }
    if (not_converged()) {
      converged_at_.reset();
      return;
    }
    if (!converged_at_) converged_at_ = sim_.now();
  }

  bool may_stop() const {
    const auto quiet = faults_->quiet_since();
    if (!quiet || sim_.now() < *quiet + kSettle) return false;
    if (state_.root_failed) return true;
    return converged_at_ && sim_.now() >= *converged_at_ + kSettle;
  }

  void check_liveness() {
    if (!sim_.check_liveness()) return;
    if (!scenario_.expect.init_complete) return;
    if (!state_.init_done_at) {
      sim_.report_violation(
          "init_completes",
          "init did not complete: the root is in phase " +
              std::string(root::phase_name(state_.root_phase)) +
              (state_.root_failure.empty() ? "" : " and failed: " + state_.root_failure),
          {root::kRootAddress});
      return;
    }
    if (const auto why = not_converged())
      sim_.report_violation("converges", "the cluster did not converge: " + *why, {state_.leader});
  }

  std::vector<std::string> expectation_failures() const {
    std::vector<std::string> failures;
    const Expectations& e = scenario_.expect;
    if (e.init_complete && e.init_within && state_.init_done_at &&
        state_.init_done_at->time_since_epoch() > *e.init_within)
      failures.push_back("init took longer than init_within");
    if (!e.init_complete) {
      if (!state_.root_failed) failures.push_back("init was expected to fail but did not");
      if (e.fail_phase && state_.root_failed && state_.root_phase != *e.fail_phase)
        failures.push_back("init failed in phase " +
                           std::string(root::phase_name(state_.root_phase)) + ", expected " +
                           std::string(root::phase_name(*e.fail_phase)));
      if (state_.root_failed) leftovers(failures);
    }
    if (e.converge_within && e.init_complete) {
      const auto quiet = faults_->quiet_since();
      if (!converged_at_ || !quiet || *converged_at_ - *quiet > *e.converge_within)
        failures.push_back(
            "the cluster did not converge within converge_within after the last fault");
    }
    if (e.apps_running_all || e.apps_running) {
      const std::int64_t running = running_app_replicas();
      const std::int64_t wanted = e.apps_running ? *e.apps_running : desired_app_replicas();
      if (running != wanted)
        failures.push_back(
            std::to_string(running) + " app replicas run at the end, expected " +
            (wanted < 0 ? std::string("all (no leader to say how many)") : std::to_string(wanted)));
    }
    for (const auto& c : e.counters) {
      const std::int64_t value = counter(c.counter);
      const bool ok = c.op == ">="   ? value >= c.value
                      : c.op == "<=" ? value <= c.value
                      : c.op == ">"  ? value > c.value
                      : c.op == "<"  ? value < c.value
                      : c.op == "!=" ? value != c.value
                                     : value == c.value;
      if (!ok)
        failures.push_back(c.counter + " is " + std::to_string(value) + ", expected " + c.op + " " +
                           std::to_string(c.value));
    }
    return failures;
  }

  // After a failed init only deterministically named VMs exist, so `omni reset` finds them all.
  void leftovers(std::vector<std::string>& failures) const {
    const auto plan = root::make_plan(scenario_.cluster);
    std::set<std::string> known;
    for (const auto& vm : std::get<root::Plan>(plan).vms) known.insert(vm.name);
    for (const auto& [node, n] : infra_->nodes())
      for (const auto& [vm, v] : n.vms)
        if (!known.count(vm))
          failures.push_back("VM " + vm + " on " + node +
                             " has no planned name: a reset would miss it");
  }

  std::int64_t counter(const std::string& name) const {
    if (name == "leader_changes") return static_cast<std::int64_t>(state_.leader_changes);
    if (name == "crashes") return static_cast<std::int64_t>(sim_.counters().crashes);
    if (name == "orchestrators") return running_voters();
    OMNI_ASSERT(name == "messages", "the scenario parser admits only kRunCounters");
    return static_cast<std::int64_t>(sim_.counters().messages_sent);
  }

  RunResult result() {
    RunResult r;
    r.seed = sim_.seed();
    r.violation = sim_.violation();
    r.expectation_failures = r.violation ? std::vector<std::string>{} : expectation_failures();
    r.passed = !r.violation && r.expectation_failures.empty();
    r.init_completed = state_.init_done_at.has_value();
    r.init_failed = state_.root_failed;
    r.init_failure = state_.root_failure;
    r.root_phase = state_.root_phase;
    r.init_done_at = state_.init_done_at;
    r.events = sim_.counters().events;
    r.messages = sim_.counters().messages_sent;
    r.leader_changes = state_.leader_changes;
    r.trace_hash = sim_.trace_hash();
    r.end = sim_.now();
    if (const auto quiet = faults_->quiet_since(); quiet && converged_at_)
      r.converged_in = *converged_at_ - *quiet;
    r.phases = state_.phases;
    r.faults_fired = faults_->fired();
    r.leader_events = leader_events();
    r.checks = sim_.checker_names();
    r.client_ops = static_cast<std::uint64_t>(std::count_if(
        history_.events.begin(), history_.events.end(),
        [](const lincheck::Event& e) { return e.type == lincheck::EventType::invoke; }));
    if (options_.record_history) r.history = std::move(history_.events);
    if (!r.phases.empty() && r.phases.back().end < r.end) r.phases.back().end = r.end;
    if (options_.record_events) {
      r.trace_events = sim_.trace().events();
      for (std::size_t i = 0; i < sim_.process_count(); ++i) {
        r.addresses.push_back(sim_.address(i));
        r.locations.push_back(infra_->location_of(sim_.address(i)));
      }
    }
    return r;
  }

  const Scenario& scenario_;
  const RunOptions& options_;
  Simulation sim_;
  RunState state_;
  AppliedEntries applied_;
  std::unique_ptr<Infrastructure> infra_;
  std::unique_ptr<FaultRunner> faults_;
  std::optional<Time> converged_at_;
  HistorySink history_;
  bool clients_started_ = false;
};

}  // namespace

RunResult run_scenario(const Scenario& scenario, std::uint64_t seed, const RunOptions& options) {
  OMNI_ASSERT(!scenario.cluster.nodes.empty());
  ClusterRun run(scenario, seed, options);
  RunResult result = run.run();
  OMNI_ASSERT(result.seed == seed);
  return result;
}

}  // namespace omni::sim
