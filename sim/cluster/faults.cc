#include "sim/cluster/faults.h"

#include <algorithm>

#include "model/core/assert.h"
#include "model/orchestrator/orchestrator.h"
#include "model/root/root.h"
#include "sim/cluster/admin_client.h"
#include "sim/scenario/write.h"

namespace omni::sim {
namespace {

NetworkConfig network_of(const NetworkSpec& spec) {
  NetworkConfig n;
  n.latency_min = spec.latency.min;
  n.latency_max = spec.latency.max;
  n.drop_probability = spec.drop;
  n.duplicate_probability = spec.duplicate;
  n.reorder_probability = spec.reorder;
  n.reorder_hold_min = std::max<Duration>(5ms, spec.latency.max - spec.latency.min + 1ms);
  n.reorder_hold_max = n.reorder_hold_min * 4;
  return n;
}

constexpr Duration kSwarmHealMin = 2s;
constexpr Duration kSwarmHealMax = 20s;
constexpr Duration kSwarmGapMin = 5s;
constexpr Duration kSwarmGapMax = 30s;

}  // namespace

FaultRunner::FaultRunner(Simulation& sim, Infrastructure& infra, const Scenario& scenario,
                         RunState& state)
    : sim_(sim), infra_(infra), scenario_(scenario), state_(state) {}

void FaultRunner::arm() {
  sim_.set_network(network_of(scenario_.network));
  arm_next();
  if (scenario_.swarm) plan_swarm();
}

std::optional<Time> FaultRunner::quiet_since() const {
  if (next_ < scenario_.faults.size()) return std::nullopt;
  return quiet_from_;
}

void FaultRunner::note_end(Duration after) {
  quiet_from_ = std::max(quiet_from_, sim_.now() + after);
}

void FaultRunner::arm_next() {
  if (next_ >= scenario_.faults.size()) return;
  const Fault& fault = scenario_.faults[next_];
  const std::size_t index = next_;
  switch (fault.at.kind) {
    case FaultTime::Kind::absolute:
      sim_.at(std::max(sim_.now(), Time{fault.at.offset}),
              [this, index](Simulation&) { fire(index); });
      break;
    case FaultTime::Kind::relative:
      sim_.at(std::max(sim_.now(), previous_at_ + fault.at.offset),
              [this, index](Simulation&) { fire(index); });
      break;
    case FaultTime::Kind::phase:
      if (state_.root_phase >= fault.at.phase && !state_.phases.empty()) {
        sim_.after(0ns, [this, index](Simulation&) { fire(index); });
      } else {
        waiting_for_ = fault.at.phase;
      }
      break;
  }
}

void FaultRunner::on_phase(root::Phase phase) {
  if (!waiting_for_ || phase < *waiting_for_) return;
  waiting_for_.reset();
  const std::size_t index = next_;
  sim_.after(0ns, [this, index](Simulation&) { fire(index); });
}

void FaultRunner::fire(std::size_t index) {
  OMNI_ASSERT(index == next_, "faults fire in order");
  previous_at_ = sim_.now();
  record(scenario_.faults[index], /*swarm=*/false);
  apply(scenario_.faults[index]);
  note_end(0ns);
  ++next_;
  arm_next();
  OMNI_ASSERT(next_ == index + 1);
}

void FaultRunner::apply(const Fault& fault) {
  std::visit(
      [&](const auto& f) {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, PartitionFault>) sim_.partition(f.groups);
        if constexpr (std::is_same_v<T, HealFault>) {
          sim_.heal();
          restore_network();
        }
        if constexpr (std::is_same_v<T, CrashFault>) crash(f.target, fault.restart_after);
        if constexpr (std::is_same_v<T, IsolateFault>) sim_.isolate(f.node, f.direction);
        if constexpr (std::is_same_v<T, ClockSkewFault>) {
          const Address a = resolve(f.target);
          if (sim_.is_up(a))
            sim_.set_clock_rate(a, f.rate);  // a process not started yet has no clock
        }
        if constexpr (std::is_same_v<T, DiskFailFault>) {
          const Address a = resolve(f.target);
          if (!sim_.is_up(a)) return;  // a disk of a process never started does not exist yet
          if (f.mode == DiskFailMode::eio) sim_.fail_disk(a);
          if (f.mode == DiskFailMode::corrupt) sim_.corrupt_disk(a);
          if (f.mode != DiskFailMode::eio && sim_.is_up(a))
            crash(f.target, fault.restart_after.value_or(1s));
        }
        if constexpr (std::is_same_v<T, PowerOffFault>) {
          for (const auto& [node, n] : infra_.nodes()) {
            if (!f.node.empty() && node != f.node) continue;
            infra_.power_off(node);
            if (fault.restart_after) {
              const std::string name = node;
              sim_.after(*fault.restart_after,
                         [this, name](Simulation&) { infra_.power_on(name); });
            }
          }
          if (fault.restart_after) note_end(*fault.restart_after);
        }
        if constexpr (std::is_same_v<T, ApplyFault>) admin().enqueue(f.patch);
        if constexpr (std::is_same_v<T, DeleteAppFault>) admin().enqueue(f.app);
        if constexpr (std::is_same_v<T, NetworkFault>) {
          NetworkConfig n = sim_.network();
          if (f.drop) n.drop_probability = *f.drop;
          if (f.duplicate) n.duplicate_probability = *f.duplicate;
          if (f.reorder) n.reorder_probability = *f.reorder;
          sim_.set_network(n);
        }
      },
      fault.what);
}

// A crashed process stays down unless restart_after says otherwise — except what the system
// supervises itself: an Orchestrator's container is restarted by its Agent, a VM by its
// Director. That supervision is what a crash fault is there to exercise; restart_after on an
// Orchestrator keeps its process down that long even though its Agent restarts the container.
void FaultRunner::crash(const Target& target, std::optional<Duration> restart_after) {
  const Address address = resolve(target);
  if (address.empty()) return;
  if (restart_after) note_end(*restart_after);
  switch (target.kind) {
    case Target::Kind::vm:
      infra_.stop_vm(target.name);
      if (restart_after) infra_.boot_vm(target.name, *restart_after);
      return;
    case Target::Kind::node:
      infra_.power_off(target.name);
      if (restart_after) {
        const std::string node = target.name;
        sim_.after(*restart_after, [this, node](Simulation&) { infra_.power_on(node); });
      }
      return;
    case Target::Kind::leader:
    case Target::Kind::orchestrator:
      infra_.stop_container_of(address, restart_after);
      return;
    default:
      if (!sim_.is_up(address)) return;
      sim_.crash(address);
      if (restart_after) sim_.restart(address, *restart_after);
  }
}

void FaultRunner::restore_network() {
  NetworkConfig n = sim_.network();
  n.drop_probability = scenario_.network.drop;
  n.duplicate_probability = scenario_.network.duplicate;
  n.reorder_probability = scenario_.network.reorder;
  sim_.set_network(n);
}

Address FaultRunner::resolve(const Target& target) const {
  if (target.kind == Target::Kind::leader) return leader();
  const Address address = target_text(target);
  OMNI_ASSERT(target.kind != Target::Kind::root || address == root::kRootAddress);
  return address;
}

AdminClient& FaultRunner::admin() {
  auto* client = dynamic_cast<AdminClient*>(sim_.component(std::string(kAdminAddress)));
  OMNI_ASSERT(client != nullptr, "the run adds its admin client before any fault");
  return *client;
}

// The live replica that leads at the highest term, found by asking the replicas themselves.
Address FaultRunner::leader() const {
  Address best;
  std::uint64_t best_term = 0;
  // Replacements get new numbers: every Orchestrator the simulation knows is asked.
  for (std::size_t id = 0; id < sim_.addresses().size(); ++id) {
    const Address& a = sim_.addresses().address_of(static_cast<AddressId>(id));
    if (a.rfind("orchestrator:", 0) != 0 || !sim_.is_up(a)) continue;
    const auto* o = dynamic_cast<const orchestrator::Orchestrator*>(sim_.component(a));
    if (o && o->is_leader() && o->term() > best_term) {
      best_term = o->term();
      best = a;
    }
  }
  return best;
}

// The fault with its time made absolute. One that waited for a phase keeps it: replayed, it then
// fires right after the root enters the phase, as it did, not just before.
std::size_t FaultRunner::record(const Fault& fault, bool swarm, std::optional<std::size_t> unit) {
  FiredFault fired{fault, unit.value_or(units_), swarm};
  if (!unit) ++units_;
  if (fired.fault.at.kind != FaultTime::Kind::phase)
    fired.fault.at = FaultTime{FaultTime::Kind::absolute, sim_.now().time_since_epoch(), {}};
  fired_.push_back(std::move(fired));
  OMNI_ASSERT(units_ > 0 && fired_.back().unit < units_);
  return fired_.back().unit;
}

// The swarm: random faults drawn from the seed, each undone after a while, until `until`.
void FaultRunner::plan_swarm() {
  const Swarm& swarm = *scenario_.swarm;
  Rng& rng = sim_.swarm_rng();
  Time t{};
  while (!swarm.kinds.empty()) {
    t += rng.between(kSwarmGapMin, kSwarmGapMax);
    if (t >= Time{swarm.until}) break;
    const std::string kind = swarm.kinds[rng.below(swarm.kinds.size())];
    const Duration heal_after = rng.between(kSwarmHealMin, kSwarmHealMax);
    sim_.at(t, [this, kind, heal_after](Simulation&) { swarm_fault(kind, heal_after); });
  }
  quiet_from_ = std::max(quiet_from_, Time{swarm.until} + kSwarmHealMax + kSwarmHealMax);
  sim_.at(Time{swarm.until}, [this](Simulation&) {
    Fault heal;
    heal.what = HealFault{};
    record(heal, /*swarm=*/true);
    apply(heal);
  });
}

// A swarm fault is applied as the scripted fault it amounts to, and so is what undoes it, so that
// the faults a run fired replay as a script exactly (FaultRunner::fired()).
void FaultRunner::swarm_fault(const std::string& kind, Duration heal_after) {
  Fault fault;
  if (!draw_swarm_fault(kind, heal_after, fault)) return;
  const std::size_t unit = record(fault, /*swarm=*/true);
  apply(fault);
  Fault undo;
  if (const auto* skew = std::get_if<ClockSkewFault>(&fault.what)) {
    auto& reset = undo.what.emplace<ClockSkewFault>();
    reset.target = skew->target;
    reset.rate = 1.0;
  } else if (std::holds_alternative<CrashFault>(fault.what)) {
    return;  // a crash restarts by itself (restart_after)
  } else {
    undo.what.emplace<HealFault>();
  }
  sim_.after(heal_after, [this, undo, unit](Simulation&) {
    record(undo, /*swarm=*/true, unit);
    apply(undo);
  });
}

// False when the draw amounts to no fault (a partition with an empty side, a clock on a process
// that is not up). Built in place: GCC 12 misreads variants of strings moved around at -O3.
bool FaultRunner::draw_swarm_fault(const std::string& kind, Duration heal_after, Fault& fault) {
  Rng& rng = sim_.swarm_rng();
  std::vector<std::string> nodes;
  for (const auto& [node, n] : infra_.nodes()) nodes.push_back(node);
  OMNI_ASSERT(!nodes.empty(), "a cluster has nodes");
  const std::string node = nodes[rng.below(nodes.size())];
  if (kind == "partition") {
    auto& partition = fault.what.emplace<PartitionFault>();
    partition.groups.resize(2);
    for (const auto& n : nodes) partition.groups[rng.below(2)].push_back(n);
    partition.groups[rng.below(2)].push_back(kRootHost);
    return !partition.groups[0].empty() && !partition.groups[1].empty();
  }
  if (kind == "isolate") {
    auto& isolate = fault.what.emplace<IsolateFault>();
    isolate.node = node;
    isolate.direction = static_cast<Direction>(rng.below(3));
    return true;
  }
  if (kind == "drop" || kind == "duplicate" || kind == "reorder") {
    const double p = 0.1 + 0.2 * rng.unit();
    auto& network = fault.what.emplace<NetworkFault>();
    (kind == "drop" ? network.drop : kind == "duplicate" ? network.duplicate : network.reorder) = p;
    return true;
  }
  if (kind == "clock_skew") {
    if (!sim_.is_up("director:" + node)) return false;
    auto& skew = fault.what.emplace<ClockSkewFault>();
    skew.target.kind = Target::Kind::director;
    skew.target.name = node;
    skew.rate = 0.5 + 1.5 * rng.unit();
    return true;
  }
  auto& crash = fault.what.emplace<CrashFault>();
  fault.restart_after = heal_after;
  if (kind == "crash") {
    const Target::Kind kinds[] = {Target::Kind::root, Target::Kind::director, Target::Kind::leader,
                                  Target::Kind::node};
    crash.target.kind = kinds[rng.below(4)];
    if (crash.target.kind == Target::Kind::director || crash.target.kind == Target::Kind::node)
      crash.target.name = node;
    return true;
  }
  OMNI_ASSERT(kind == "disk_fail" || kind == "power_off",
              "the scenario parser admits only known swarm kinds");
  // disk_fail: a Director's crash loses what it had not synced.
  crash.target.kind = kind == "disk_fail" ? Target::Kind::director : Target::Kind::node;
  crash.target.name = node;
  return true;
}

}  // namespace omni::sim
