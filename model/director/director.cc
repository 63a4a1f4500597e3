#include "model/director/director.h"

#include <algorithm>
#include <limits>

#include "model/config/quantity.h"
#include "model/config/resource_limits.h"
#include "model/core/assert.h"
#include "model/core/sealed.h"

namespace omni::director {
namespace {

constexpr std::string_view kAgentPrefix = "agent:";

std::string quantity_text(std::int64_t value, bool memory) {
  if (value <= 0) return "0";
  return memory ? config::format_memory_bytes(value) : config::format_cpu_millis(value);
}

config::Resources resources_of(const v1::Resources& r) {
  return {r.cpu_millis(), r.memory_bytes()};
}

}  // namespace

Address agent_address(const std::string& vm) {
  return std::string(kAgentPrefix) + vm;
}
Address director_address(const std::string& node) {
  return "director:" + node;
}

Director::Director(DirectorConfig config) : config_(std::move(config)) {
  OMNI_ASSERT(!config_.node.empty());
  OMNI_ASSERT(config_.max_ops_in_flight > 0);
}

void Director::step(const Input& input, Outputs& out) {
  const Time now = now_of(input);
  OMNI_ASSERT(now >= now_, "time never goes back for one component");
  now_ = now;
  std::visit(
      [&](const auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, Start>) on_start(in, out);
        if constexpr (std::is_same_v<T, Deliver>) on_deliver(in, out);
        if constexpr (std::is_same_v<T, Tick>) on_tick(in, out);
        if constexpr (std::is_same_v<T, DriverDone>) on_driver_done(in, out);
      },
      input);
  OMNI_ASSERT(pending_.size() <= config_.max_ops_in_flight + 1, "driver calls are bounded");
}

void Director::on_start(const Start& start, Outputs& out) {
  for (const auto& record : start.persisted) {
    v1::DirectorCheckpoint checkpoint;
    const auto payload = unseal(record);
    if (!payload || !checkpoint.ParseFromString(*payload)) {
      ++corrupt_checkpoints_;  // torn or corrupt: the other copy holds it, never a misread
      continue;
    }
    desired_vms_known_ = true;
    accepted_ = fence_of(checkpoint.accepted());
    controller_ = checkpoint.controller();
    desired_vms_.assign(checkpoint.vms().begin(), checkpoint.vms().end());
    replicas_.assign(checkpoint.replicas().begin(), checkpoint.replicas().end());
    generation_ = checkpoint.generation();
    workers_seq_ = checkpoint.workers_seq();
    replicas_seq_ = checkpoint.replicas_seq();
  }
  OMNI_ASSERT(std::is_sorted(desired_vms_.begin(), desired_vms_.end(),
                             [](const auto& a, const auto& b) { return a.name() < b.name(); }));
  // A restarted Director does not fence its apps for one lease (stopping every app at each restart
  // would cost more than the leader's margin), but it grants its Agents no time to run them until
  // its controller echoes a report of this incarnation: while it was down the lease may have run
  // out and the apps moved, and the Agents stop them when the time they were given runs out.
  next_report_seq_ = static_cast<std::uint64_t>(ns_of(now_)) + 1;
  lease_from_ = now_;
  lease_granted_ = false;
  // A set number is never used by two incarnations: the last one may have sent this number with
  // its apps fenced, which this one does not know, and an Agent takes a set of its own number
  // (a late copy from before the restart included) for the one it has.
  if (desired_vms_known_) {
    ++generation_;
    persist_checkpoint(out);
  }
  v1::Envelope hello;
  hello.mutable_hello()->set_component(director_address(config_.node));
  out.push_back(Send{controller_.empty() ? config_.root : controller_, hello});
  poll(out);
  next_report_ = now_ + config_.report_interval;
  out.push_back(WakeAt{std::min(next_reconcile_, next_report_)});
}

void Director::on_deliver(const Deliver& d, Outputs& out) {
  const v1::Envelope& e = d.envelope;
  switch (e.body_case()) {
    case v1::Envelope::kDirectorCommand:
      on_command(d.from, e.seq(), e.director_command(), out);
      break;
    case v1::Envelope::kTakeControl:
      on_take_control(d.from, e.seq(), e.take_control(), out);
      break;
    case v1::Envelope::kAgentReport:
      on_agent_report(d.from, e.agent_report(), out);
      break;
    case v1::Envelope::kHello:
      on_agent_hello(d.from, out);
      break;
    case v1::Envelope::kInspect:
      // Each answer takes a slot of reports_sent_; strangers' questions must not push the
      // controller's report out before its echo renews the lease.
      if (!is_root_address(d.from) && !is_orchestrator_address(d.from)) break;
      if (e.inspect().lease_report_seq() != 0) {
        const bool renewed = renew_lease(d.from, e.inspect().lease_report_seq());
        if (!fence_apps_if_lease_changed(out) && renewed) pass_lease_to_agents(out);
      } else {
        report(d.from, e.seq(), false, "", out);
      }
      break;
    default:
      break;  // not for a Director: ignored, as a real server ignores stray traffic
  }
}

void Director::on_tick(const Tick&, Outputs& out) {
  fence_apps_if_lease_changed(out);
  if (now_ >= next_reconcile_) poll(out);
  if (now_ >= next_report_) {
    if (!controller_.empty()) report(controller_, 0, false, last_error_, out);
    next_report_ = now_ + config_.report_interval;
  }
  OMNI_ASSERT(next_reconcile_ > now_ && next_report_ > now_);
  out.push_back(WakeAt{std::min(next_reconcile_, next_report_)});
}

// Fencing --------------------------------------------------------------------------------

// A newer fence wins and is adopted; the same fence is accepted only from the same controller
// (two roots with one epoch must not both act); an older one is refused. The test-only broken
// Director accepts both.
bool Director::admit(FenceValue fence, const Address& from) {
  const FenceValue before = accepted_;
  const bool sound = !config_.testing_accept_stale_fence;
  if (fence < accepted_ && sound) return false;
  if (fence == accepted_ && !controller_.empty() && from != controller_ && sound) return false;
  if (fence > accepted_) {
    accepted_ = fence;
    controller_ = from;
    workers_seq_ = replicas_seq_ = 0;  // a new controller counts its own seqs
  }
  OMNI_ASSERT(accepted_ >= before || config_.testing_accept_stale_fence);
  return true;
}

// Any holder of a cluster certificate can send a command: without this, an Agent's address with
// the fence (1, 2^64-1) became the controller for good and could destroy the node's VMs.
bool Director::may_hold(FenceValue fence, const Address& from) const {
  if (fence.era == kRootEra) return is_root_address(from);
  return fence.era == kClusterEra && is_orchestrator_address(from);
}

// The cluster's CA names the root `root` (the simulator's second init is `root-2`).
bool Director::is_root_address(const Address& from) const {
  OMNI_ASSERT(!config_.root.empty());
  return from == config_.root || from.rfind(config_.root + "-", 0) == 0;
}

void Director::on_command(const Address& from, std::uint64_t seq,
                          const v1::DirectorCommand& command, Outputs& out) {
  const FenceValue fence = fence_of(command.fence());
  if (!may_hold(fence, from)) return;  // no report: a stranger gets no answer to count on
  if (!admit(fence, from)) {
    report(from, seq, true,
           "rejected " + to_string(fence) + ": this Director is controlled at " +
               to_string(accepted_) + " by " + controller_,
           out);
    return;
  }
  std::uint64_t* last_seq = last_seq_of(command);
  if (last_seq != nullptr && fence == accepted_ && seq < *last_seq) return;  // a late copy
  if (command.has_ensure_workers()) {
    std::vector<v1::VmSpec> vms(command.ensure_workers().vms().begin(),
                                command.ensure_workers().vms().end());
    if (auto problem = capacity_problem(vms)) {
      persist_checkpoint(out);  // the fence was adopted even though the command is refused
      report(from, seq, true, *problem, out);
      return;
    }
  }
  execute(fence, from, command);
  if (last_seq != nullptr && fence == accepted_) *last_seq = std::max(*last_seq, seq);
  persist_checkpoint(out);
  report(from, seq, false, "", out);
  reconcile(out);
}

// Where the seq of the last command of this one's kind is kept; none for a claim, which changes
// who controls and nothing a late copy could undo.
std::uint64_t* Director::last_seq_of(const v1::DirectorCommand& command) {
  if (command.has_ensure_workers()) return &workers_seq_;
  if (command.has_ensure_replicas()) return &replicas_seq_;
  return nullptr;
}

void Director::on_take_control(const Address& from, std::uint64_t seq, const v1::TakeControl& take,
                               Outputs& out) {
  const FenceValue fence = fence_of(take.fence());
  if (fence.era != kClusterEra || !may_hold(fence, from)) return;
  if (!admit(fence, from)) {
    report(from, seq, true,
           "rejected take-over at " + to_string(fence) + ": held at " + to_string(accepted_), out);
    return;
  }
  executed_ = {fence, from, executed_.count + 1};
  persist_checkpoint(out);
  report(from, seq, false, "", out);
}

void Director::execute(FenceValue fence, const Address& from, const v1::DirectorCommand& command) {
  OMNI_ASSERT(fence <= accepted_ || config_.testing_accept_stale_fence);
  executed_ = {fence, from, executed_.count + 1, command.has_claim()};
  if (command.has_ensure_workers()) {
    desired_vms_known_ = true;
    desired_vms_.assign(command.ensure_workers().vms().begin(),
                        command.ensure_workers().vms().end());
    std::sort(desired_vms_.begin(), desired_vms_.end(),
              [](const auto& a, const auto& b) { return a.name() < b.name(); });
    ++generation_;
  }
  if (command.has_ensure_replicas()) {
    replicas_.assign(command.ensure_replicas().replicas().begin(),
                     command.ensure_replicas().replicas().end());
    ++generation_;
  }
  OMNI_ASSERT(executed_.count > 0);
}

std::optional<std::string> Director::capacity_problem(const std::vector<v1::VmSpec>& vms) const {
  config::Resources free{config_.capacity.cpu_millis - config_.director_vm.cpu_millis,
                         config_.capacity.memory_bytes - config_.director_vm.memory_bytes};
  OMNI_ASSERT(free.cpu_millis >= 0 && free.memory_bytes >= 0);
  // From the wire: a negative amount passed the comparisons below and overflowed the sums.
  if (vms.size() > static_cast<std::size_t>(config::kMaxWorkerVmsPerNode))
    return std::to_string(vms.size()) + " worker VMs on " + config_.node + ", at most " +
           std::to_string(config::kMaxWorkerVmsPerNode);
  for (std::size_t i = 0; i < vms.size(); ++i) {
    const config::Resources need = resources_of(vms[i].resources());
    const std::string which = " on " + config_.node + " for worker VM " + std::to_string(i + 1);
    if (!config::is_valid_amount(need) || vms[i].name().empty())
      return "no name or no sound resources" + which;
    if (need.memory_bytes > free.memory_bytes)
      return "not enough memory" + which + ": need " + quantity_text(need.memory_bytes, true) +
             ", " + quantity_text(free.memory_bytes, true) + " free";
    if (need.cpu_millis > free.cpu_millis)
      return "not enough cpu" + which + ": need " + quantity_text(need.cpu_millis, false) + ", " +
             quantity_text(free.cpu_millis, false) + " free";
    free.cpu_millis -= need.cpu_millis;
    free.memory_bytes -= need.memory_bytes;
  }
  return std::nullopt;
}

void Director::persist_checkpoint(Outputs& out) const {
  v1::DirectorCheckpoint checkpoint;
  *checkpoint.mutable_accepted() = to_proto(accepted_);
  checkpoint.set_controller(controller_);
  for (const auto& vm : desired_vms_) *checkpoint.add_vms() = vm;
  for (const auto& r : replicas_) *checkpoint.add_replicas() = r;
  checkpoint.set_generation(generation_);
  checkpoint.set_workers_seq(workers_seq_);
  checkpoint.set_replicas_seq(replicas_seq_);
  // Written twice: a damaged record is skipped, and the copy keeps the fence this Director
  // accepted. With one record, a damaged checkpoint sent it back to root epoch 0, ready to obey a
  // controller it had refused, with no desired VMs (every worker VM, Orchestrators' too,
  // undesired).
  const std::string record = seal(checkpoint.SerializeAsString());
  out.push_back(Persist{record, true, true});
  out.push_back(Persist{record, true, false});
}

// Reconciling VMs and containers ---------------------------------------------------------

// Polls the hypervisor; the answer (on_driver_done) acts on what it lists.
void Director::poll(Outputs& out) {
  next_reconcile_ = now_ + config_.reconcile_interval;
  if (!list_pending_ && pending_.size() < config_.max_ops_in_flight) {
    list_pending_ = true;
    call_vm(VmOpKind::list, "", {}, out);
  }
  OMNI_ASSERT(next_reconcile_ > now_);
}

void Director::reconcile(Outputs& out) {
  if (!listed_) return;  // act on what exists, never on a guess
  for (const auto& spec : desired_vms_) reconcile_vm(spec, out);
  remove_undesired_vms(out);
  for (const auto& [name, vm] : vms_)
    if (vm.agent_ready && is_desired(name)) {
      const auto report = agent_reports_.find(name);
      if (report == agent_reports_.end() || report->second.generation() != generation_)
        send_containers(name, out);
    }
  OMNI_ASSERT(pending_.size() <= config_.max_ops_in_flight);
}

void Director::reconcile_vm(const v1::VmSpec& spec, Outputs& out) {
  Vm& vm = vms_[spec.name()];
  if (vm.op_pending || pending_.size() >= config_.max_ops_in_flight) return;
  if (!vm.exists) {
    call_vm(VmOpKind::create, spec.name(), resources_of(spec.resources()), out);
  } else if (!vm.running) {
    call_vm(VmOpKind::start, spec.name(), {}, out);
  }
}

// Only once it knows what is desired (a checkpoint or a controller said): a Director whose disk
// lost its checkpoint would otherwise take every worker VM of its node for undesired.
void Director::remove_undesired_vms(Outputs& out) {
  if (!desired_vms_known_) return;
  for (auto& [name, vm] : vms_) {
    if (!vm.exists || vm.op_pending || is_desired(name) || name == config_.own_vm) continue;
    if (pending_.size() >= config_.max_ops_in_flight) return;
    call_vm(VmOpKind::destroy, name, {}, out);
  }
}

void Director::call_vm(VmOpKind kind, const std::string& vm, const config::Resources& r,
                       Outputs& out) {
  VmOp op{kind, config_.node, vm, r.cpu_millis, r.memory_bytes, {}};
  if (kind == VmOpKind::create) op.metadata = {{"node", config_.node}, {"role", "worker"}};
  const std::uint64_t id = next_op_id_++;
  pending_[id] = PendingOp{kind, vm};
  if (!vm.empty()) vms_[vm].op_pending = true;
  out.push_back(DriverCall{id, op});
}

void Director::on_driver_done(const DriverDone& done, Outputs& out) {
  const auto it = pending_.find(done.op_id);
  if (it == pending_.end()) return;  // an answer from before a restart
  const PendingOp op = it->second;
  pending_.erase(it);
  const bool ok = done.result.status == DriverStatus::ok;
  if (op.kind == VmOpKind::list) {
    list_pending_ = false;
    if (!ok) return;
    listed_ = true;
    for (auto& [name, vm] : vms_) vm.exists = vm.running = false;
    for (const auto& name : done.result.names) vms_[name].exists = true;
    for (const auto& name : done.result.running) vms_[name].running = true;
    for (auto& [name, vm] : vms_)
      if (!vm.running) {
        vm.agent_ready = false;  // a stopped VM's Agent is gone with it, and so is what it ran
        agent_reports_.erase(name);
      }
    reconcile(out);
    return;
  }
  Vm& vm = vms_[op.vm];
  vm.op_pending = false;
  if (!ok && done.result.status != DriverStatus::already_exists) {
    last_error_ = done.result.message;
    return;
  }
  if (op.kind == VmOpKind::create || op.kind == VmOpKind::start) vm.exists = vm.running = true;
  if (op.kind == VmOpKind::destroy) {
    vms_.erase(op.vm);
    agent_reports_.erase(op.vm);  // nothing runs in it any more
  }
  OMNI_ASSERT(pending_.size() < config_.max_ops_in_flight + 1);
}

// An Agent is heard only from a VM this Director wants or its hypervisor lists: any certificate
// holder can claim `agent:ANYTHING`, and each name was a new entry of vms_ and agent_reports_.
bool Director::is_own_vm(const std::string& vm) const {
  return !vm.empty() && (vms_.count(vm) > 0 || is_desired(vm));
}

void Director::on_agent_hello(const Address& from, Outputs& out) {
  const std::string vm = vm_of_agent(from);
  if (!is_own_vm(vm)) return;
  vms_[vm].agent_ready = true;
  agent_reports_.erase(vm);
  if (is_desired(vm)) send_containers(vm, out);
}

void Director::on_agent_report(const Address& from, const v1::AgentReport& report, Outputs& out) {
  const std::string vm = vm_of_agent(from);
  if (!is_own_vm(vm) || vm != report.vm()) return;
  vms_[vm].agent_ready = true;
  // An Agent speaks for its own VM only: a container it says runs elsewhere is not passed on,
  // or it would count as running in the leader's status wherever its name was placed.
  v1::AgentReport& kept = agent_reports_[vm] = report;
  auto* containers = kept.mutable_containers();
  containers->erase(std::remove_if(containers->begin(), containers->end(),
                                   [&vm](const v1::ContainerStatus& c) { return c.vm() != vm; }),
                    containers->end());
  OMNI_ASSERT(std::all_of(kept.containers().begin(), kept.containers().end(),
                          [&vm](const v1::ContainerStatus& c) { return c.vm() == vm; }));
  // An Agent ahead of us saw a generation this Director never persisted (a lease flip before a
  // restart); it refuses older lists, so move past it or the two would answer each other forever.
  // Only so far ahead: a generation near 2^64 would wrap the next increment to zero.
  if (report.generation() > generation_ &&
      report.generation() - generation_ <= kMaxGenerationLead) {
    generation_ = report.generation() + 1;
    persist_checkpoint(out);
  }
  // A set the Agent refused goes again at the next reconcile, not at once: at once, the two
  // passed a set that does not fit back and forth as fast as the network carries them.
  if (report.generation() != generation_ && is_desired(vm) && !report.rejected())
    send_containers(vm, out);
}

void Director::send_containers(const std::string& vm, Outputs& out) {
  OMNI_ASSERT(is_desired(vm));
  v1::Envelope e;
  e.set_seq(next_seq_++);
  auto* run = e.mutable_run_containers();
  run->set_generation(generation_);
  for (const auto& r : replicas_) {
    const bool app = r.container().replica() == 0;
    if (r.vm() == vm && !(app && apps_fenced_)) *run->add_containers() = r.container();
  }
  const auto left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(app_lease_left());
  run->set_app_lease_ms(static_cast<std::uint64_t>(left_ms.count()));
  OMNI_ASSERT(left_ms <= config_.app_lease);
  out.push_back(Send{agent_address(vm), std::move(e)});
}

// The Lease ------------------------------------------------------------------------------

// Only the controller's echo of a report this incarnation sent renews the lease, from when that
// report was sent: the leader heard this Director at least that late, so it will not move the
// apps before the lease has run out here.
// Returns whether the lease moved on.
bool Director::renew_lease(const Address& from, std::uint64_t report_seq) {
  if (from != controller_ || accepted_.era != kClusterEra) return false;
  const Time before = lease_from_;
  bool matched = false;
  for (const auto& [seq, sent_at] : reports_sent_)
    if (seq == report_seq) {
      lease_from_ = std::max(lease_from_, sent_at);
      matched = true;
    }
  const bool renewed = matched && (lease_from_ > before || !lease_granted_);
  lease_granted_ = lease_granted_ || matched;
  OMNI_ASSERT(lease_from_ >= before && lease_from_ <= now_);
  OMNI_ASSERT(!renewed || lease_granted_);
  return renewed;
}

bool Director::lease_expired() const {
  return accepted_.era == kClusterEra && now_ - lease_from_ > config_.app_lease;
}

// What an Agent may be given of the lease: nothing before this incarnation's first echo, nothing
// once it ran out, and otherwise what is left of it here (the Agent times it by its own clock, so
// it stops its apps no later than this Director would have fenced them).
Duration Director::app_lease_left() const {
  if (!lease_granted_ || lease_expired()) return Duration{0};  // granted: in the cluster era
  const Duration left = config_.app_lease - (now_ - lease_from_);
  OMNI_ASSERT(left >= Duration{0} && left <= config_.app_lease);
  return left;
}

// Stop the app containers when the lease runs out, start them again when it is renewed: a new
// generation makes every Agent get its list again. Returns whether the lists went out.
bool Director::fence_apps_if_lease_changed(Outputs& out) {
  const bool fenced = lease_expired();
  if (fenced == apps_fenced_) return false;
  apps_fenced_ = fenced;
  ++generation_;
  persist_checkpoint(out);  // before any set of this number goes out: see on_start
  for (const auto& spec : desired_vms_)
    if (const auto it = vms_.find(spec.name()); it != vms_.end() && it->second.agent_ready)
      send_containers(spec.name(), out);
  OMNI_ASSERT(apps_fenced_ == lease_expired());
  OMNI_ASSERT(generation_ > 0);
  return true;
}

// A renewed lease reaches the Agents that run apps as their set again (the same generation): each
// holds its apps only for the time the last set gave it, so a Director that died or was cut off
// cannot leave them running after the leader has moved them elsewhere.
void Director::pass_lease_to_agents(Outputs& out) {
  OMNI_ASSERT(lease_granted_);
  if (apps_fenced_) return;  // an echo of a report older than the lease: nothing to pass on
  for (const auto& spec : desired_vms_)
    if (const auto it = vms_.find(spec.name());
        it != vms_.end() && it->second.agent_ready && runs_apps_in(spec.name()))
      send_containers(spec.name(), out);
  OMNI_ASSERT(!lease_expired());
}

bool Director::runs_apps_in(const std::string& vm) const {
  return std::any_of(replicas_.begin(), replicas_.end(), [&vm](const v1::ReplicaSpec& r) {
    return r.vm() == vm && r.container().replica() == 0;
  });
}

// Reports --------------------------------------------------------------------------------

v1::DirectorReport Director::make_report() const {
  v1::DirectorReport r;
  r.set_node(config_.node);
  *r.mutable_accepted() = to_proto(accepted_);
  r.set_controller(controller_);
  std::int64_t cpu = config_.capacity.cpu_millis - config_.director_vm.cpu_millis;
  std::int64_t memory = config_.capacity.memory_bytes - config_.director_vm.memory_bytes;
  for (const auto& spec : desired_vms_) {
    const auto it = vms_.find(spec.name());
    auto* status = r.add_vms();
    status->set_name(spec.name());
    status->set_running(it != vms_.end() && it->second.running);
    status->set_agent_ready(it != vms_.end() && it->second.agent_ready);
    status->set_containers_known(agent_reports_.count(spec.name()) > 0);
    cpu -= spec.resources().cpu_millis();
    memory -= spec.resources().memory_bytes();
  }
  for (const auto& [vm, report] : agent_reports_)
    for (const auto& c : report.containers()) *r.add_containers() = c;
  r.mutable_free()->set_cpu_millis(cpu);
  r.mutable_free()->set_memory_bytes(memory);
  return r;
}

void Director::report(const Address& to, std::uint64_t seq, bool rejected,
                      const std::string& reason, Outputs& out) {
  v1::Envelope e;
  e.set_seq(next_seq_++);
  *e.mutable_director_report() = make_report();
  e.mutable_director_report()->set_rejected(rejected);
  e.mutable_director_report()->set_reason(reason);
  e.mutable_director_report()->set_command_seq(seq);
  e.mutable_director_report()->set_report_seq(next_report_seq_);
  e.mutable_director_report()->set_apps_fenced(apps_fenced_);
  e.mutable_director_report()->set_lease_granted(lease_granted_);
  // Only the controller's echo renews the lease: only what it was sent is worth remembering.
  if (to == controller_) reports_sent_.emplace_back(next_report_seq_, now_);
  ++next_report_seq_;
  if (reports_sent_.size() > kReportsRemembered) reports_sent_.pop_front();
  out.push_back(Send{to, std::move(e)});
}

bool Director::is_desired(const std::string& vm) const {
  return std::any_of(desired_vms_.begin(), desired_vms_.end(),
                     [&](const v1::VmSpec& s) { return s.name() == vm; });
}

std::string Director::vm_of_agent(const Address& agent) const {
  if (agent.rfind(kAgentPrefix, 0) != 0) return "";
  return agent.substr(kAgentPrefix.size());
}

std::vector<std::string> Director::running_vms() const {
  std::vector<std::string> names;
  for (const auto& [name, vm] : vms_)
    if (vm.running) names.push_back(name);
  return names;
}

}  // namespace omni::director
