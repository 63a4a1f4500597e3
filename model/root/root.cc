#include "model/root/root.h"

#include <algorithm>

#include "model/core/assert.h"
#include "model/core/sealed.h"
#include "model/director/director.h"
#include "model/orchestrator/apps.h"
#include "model/orchestrator/cluster_spec.h"

namespace omni::root {
namespace {

using orchestrator::to_proto;

std::optional<Phase> phase_named(std::string_view name) {
  for (Phase p : kPhases)
    if (phase_name(p) == name) return p;
  return std::nullopt;
}

Address orchestrator_address(int replica) {
  return "orchestrator:" + std::to_string(replica);
}

}  // namespace

std::vector<std::string> Root::replica_args(int replica, const std::vector<Address>& members) {
  OMNI_ASSERT(replica >= 1 && static_cast<std::size_t>(replica) <= members.size());
  std::string joined;
  for (const auto& m : members) joined += (joined.empty() ? "" : ",") + m;
  return {"orchestrator", "--replica=" + std::to_string(replica), "--members=" + joined};
}

Root::Root(RootConfig config) : config_(std::move(config)) {
  auto plan = make_plan(config_.cluster);
  OMNI_ASSERT(std::holds_alternative<Plan>(plan), "the root is given a config that plans");
  plan_ = std::get<Plan>(std::move(plan));
  for (const auto& node : config_.cluster.nodes) directors_[node.name] = {};
  index_plan();
  OMNI_ASSERT(!directors_.empty());
}

void Root::step(const Input& input, Outputs& out) {
  const Time now = now_of(input);
  OMNI_ASSERT(now >= now_, "time never goes back for one component");
  now_ = now;
  if (exited_) return;
  if (leaving_) {  // the outcome was recorded and reported in an earlier step: now go
    exited_ = true;
    out.push_back(Exit{});
    return;
  }
  std::visit(
      [&](const auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, Start>) on_start(in, out);
        if constexpr (std::is_same_v<T, Deliver>) on_deliver(in, out);
        if constexpr (std::is_same_v<T, DriverDone>) on_driver_done(in, out);
      },
      input);
  if (!exited_ && !leaving_) drive(out);
  // One pending wake at a time: a wake per message would multiply with the traffic.
  if (!exited_ && (wake_at_ <= now_ || leaving_)) {
    wake_at_ = now_ + (leaving_ ? 1ms : config_.retry_interval);
    out.push_back(WakeAt{wake_at_});
  }
}

// A restarted root takes a new, higher epoch before it sends anything, so Directors that
// obeyed its previous incarnation follow it and a stale message of the old one is refused.
void Root::on_start(const Start& start, Outputs& out) {
  std::uint64_t last_epoch = 0;
  for (const auto& record : start.persisted) {
    v1::RootCheckpoint checkpoint;
    const auto payload = unseal(record);
    if (!payload || !checkpoint.ParseFromString(*payload)) {
      ++corrupt_checkpoints_;  // torn or corrupt: the other copy holds it, never a misread
      continue;
    }
    // An epoch no run of init reaches is a damaged record, and its number would not fit beside
    // the message numbers below.
    if (checkpoint.epoch() >= kMaxEpoch) {
      ++corrupt_checkpoints_;
      continue;
    }
    if (checkpoint.epoch() < last_epoch) continue;
    last_epoch = checkpoint.epoch();
    if (auto p = phase_named(checkpoint.phase())) phase_ = *p;
  }
  epoch_ = last_epoch + 1;
  OMNI_ASSERT(epoch_ > last_epoch);
  // Numbered by epoch: a Director's answer to a command of a dead incarnation (the same small
  // numbers) was taken for an answer to this one's.
  next_seq_ = (epoch_ << 32) + 1;
  OMNI_ASSERT(seq_epoch(next_seq_) == epoch_);
  phase_started_ = now_;
  persist(out);
  if (phase_ == Phase::done) {
    progress("the cluster was already initialized", false, true, out);
    exited_ = true;
    out.push_back(Exit{});
    return;
  }
  progress("init epoch " + std::to_string(epoch_) + (last_epoch ? ", resuming" : ""), false, false,
           out);
}

void Root::on_deliver(const Deliver& d, Outputs& out) {
  const v1::Envelope& e = d.envelope;
  switch (e.body_case()) {
    case v1::Envelope::kHello:
      on_hello(d.from);
      break;
    case v1::Envelope::kDirectorReport:
      on_director_report(d.from, e.director_report(), out);
      break;
    case v1::Envelope::kHandOverAck:
      on_hand_over_ack(d.from, e.hand_over_ack(), out);
      break;
    case v1::Envelope::kStatusReply:
      on_status_reply(d.from, e.status_reply(), out);
      break;
    default:
      break;
  }
}

// Looked up by the node the address names: a scan of every view per hello made a large init
// quadratic.
void Root::on_hello(const Address& from) {
  static constexpr std::string_view kPrefix = "director:";
  if (!from.starts_with(kPrefix)) return;
  const auto it = directors_.find(from.substr(kPrefix.size()));
  if (it == directors_.end()) return;
  OMNI_ASSERT(director::director_address(it->first) == from);
  it->second.hello = it->second.vm_created = true;
  OMNI_ASSERT(it->second.hello);
}

void Root::on_driver_done(const DriverDone& done, Outputs& out) {
  const auto it = pending_ops_.find(done.op_id);
  if (it == pending_ops_.end()) return;
  const std::string node = it->second;
  pending_ops_.erase(it);
  nodes_pending_.erase(node);
  const bool ok =
      done.result.status == DriverStatus::ok || done.result.status == DriverStatus::already_exists;
  if (phase_ == Phase::preflight && ok) nodes_listed_.insert(node);
  if (phase_ == Phase::directors && ok) directors_[node].vm_created = true;
  if (!ok && done.result.status == DriverStatus::no_capacity)
    fail("no room for the Director VM on " + node + ": " + done.result.message, out);
  else if (!ok)
    note_retry(node + ": " + done.result.message, out);
}

// Retried until the phase times out; a person sees each new reason once, not every retry.
void Root::note_retry(const std::string& reason, Outputs& out) {
  OMNI_ASSERT(!reason.empty());
  if (reason == reason_) return;
  reason_ = reason;
  progress("retrying: " + reason_, false, false, out);
  OMNI_ASSERT(reason_ == reason);
}

void Root::on_director_report(const Address& from, const v1::DirectorReport& r, Outputs& out) {
  const auto it = directors_.find(r.node());
  if (it == directors_.end() || from != director::director_address(r.node())) return;
  DirectorView& view = it->second;
  const DirectorView before = view;
  update_view(view, r, out);
  if (view == before) return;
  views_changed_ = true;
  count_view(before, -1);
  count_view(view, +1);
}

void Root::count_view(const DirectorView& view, int sign) {
  OMNI_ASSERT(sign == 1 || sign == -1);
  for (std::size_t i = 0; i < kCountedFields.size(); ++i) {
    if (!(view.*kCountedFields[i])) continue;
    OMNI_ASSERT(sign > 0 || ready_counts_[i] > 0, "a counted view was counted");
    ready_counts_[i] = sign > 0 ? ready_counts_[i] + 1 : ready_counts_[i] - 1;
  }
}

std::size_t Root::counted_index(bool DirectorView::*field) {
  const auto it = std::find(kCountedFields.begin(), kCountedFields.end(), field);
  OMNI_ASSERT(it != kCountedFields.end(), "all() asks only of a counted field");
  return static_cast<std::size_t>(it - kCountedFields.begin());
}

std::size_t Root::ready_count(bool DirectorView::*field) const {
  const std::size_t count = ready_counts_[counted_index(field)];
  OMNI_ASSERT(count <= directors_.size());
  return count;
}

void Root::update_view(DirectorView& view, const v1::DirectorReport& r, Outputs& out) {
  const FenceValue held = fence_of(r.accepted());
  view.hello = view.vm_created = true;
  view.controlled_by_cluster = held == FenceValue{kClusterEra, leader_term_} && leader_term_ > 0;
  if (held.era == kClusterEra && phase_ < Phase::takeover) {
    enter(Phase::takeover, out);  // an earlier incarnation of this init already handed over
    return;
  }
  if (held.era == kRootEra && held.term > epoch_) {
    fail("another omni init (epoch " + std::to_string(held.term) + ") controls the Director on " +
             r.node() + "; this one stops",
         out);
    return;
  }
  // Two inits that drew the same epoch: the Director took whichever claimed first. Neither may
  // act on only some Directors, so the one that lost any stops and says why.
  if (held == FenceValue{kRootEra, epoch_} && r.controller() != config_.self &&
      !config_.testing_ignore_other_roots) {
    fail("another omni init (" + r.controller() + ", epoch " + std::to_string(epoch_) +
             ") controls the Director on " + r.node() + "; this one stops",
         out);
    return;
  }
  // Only a refusal of this incarnation's own command: a late command of a dead one is refused
  // because this one holds the Director, and that is no reason to stop.
  if (r.rejected() && phase_ == Phase::workers && held == FenceValue{kRootEra, epoch_} &&
      seq_epoch(r.command_seq()) == epoch_) {
    fail(r.reason(), out);
    return;
  }
  if (held != FenceValue{kRootEra, epoch_}) return;
  view.claimed = true;
  const auto& expected = worker_specs(r.node());
  view.workers_ready = std::all_of(expected.begin(), expected.end(), [&](const v1::VmSpec& spec) {
    return std::any_of(r.vms().begin(), r.vms().end(), [&](const v1::VmStatus& s) {
      return s.name() == spec.name() && s.running() && s.agent_ready();
    });
  });
  // In the VM the plan put it in: the hand-over names that VM, and a container of the replica's
  // name in another VM of the node is not the member the plane's configuration counts on.
  const auto& replicas = replica_specs(r.node());
  view.replicas_ready =
      std::all_of(replicas.begin(), replicas.end(), [&](const v1::ReplicaSpec& spec) {
        return std::any_of(
            r.containers().begin(), r.containers().end(), [&](const v1::ContainerStatus& c) {
              return c.name() == spec.container().name() && c.vm() == spec.vm() && c.running();
            });
      });
}

// Answers about the plane count only from Orchestrators, and a hint only names one: any holder
// of a cluster certificate (an Agent's VM, say) could otherwise send `accepted` and the root
// would never hand over, or name an address of its choosing to receive the hand-over. Not only
// the plan's members: a replacement may lead before the root is done.
void Root::take_hint(const Address& hint) {
  leader_hint_ = is_orchestrator_address(hint) ? hint : Address{};
  OMNI_ASSERT(leader_hint_.empty() || is_orchestrator_address(leader_hint_));
}

void Root::on_hand_over_ack(const Address& from, const v1::HandOverAck& ack, Outputs& out) {
  if (phase_ != Phase::reg || !is_orchestrator_address(from)) return;
  if (ack.accepted()) {
    handed_over_ = true;
    leader_hint_ = from;
    enter(Phase::takeover, out);
  } else {
    take_hint(ack.leader_hint());
  }
}

void Root::on_status_reply(const Address& from, const v1::StatusReply& reply, Outputs& out) {
  if ((phase_ != Phase::takeover && phase_ != Phase::verify) || !is_orchestrator_address(from))
    return;
  if (!reply.is_leader()) {
    take_hint(reply.leader_hint());
    return;
  }
  leader_hint_ = from;
  if (reply.term() != leader_term_) {
    leader_term_ = reply.term();
    verified_by_leader_ = false;
    for (auto& [node, view] : directors_) view.controlled_by_cluster = false;
    ready_counts_[counted_index(&DirectorView::controlled_by_cluster)] = 0;
    views_changed_ = true;
  }
  std::set<std::string> controlled(reply.controlled_directors().begin(),
                                   reply.controlled_directors().end());
  const bool every_director = std::all_of(directors_.begin(), directors_.end(), [&](const auto& d) {
    return controlled.count(director::director_address(d.first)) > 0;
  });
  const bool healthy = reply.handed_over() && every_director;
  if (phase_ == Phase::takeover && healthy) {
    enter(Phase::verify, out);
    return;
  }
  if (phase_ == Phase::verify && reply.nonce() == status_nonce_) {
    verified_by_leader_ = healthy && reply.quorum_healthy();
    views_changed_ = true;  // the verify condition has a new input
  }
}

// Phases ---------------------------------------------------------------------------------

// A phase that completes lets the next one act in the same step; at most one pass per phase.
void Root::drive(Outputs& out) {
  for (std::size_t pass = 0; pass < kPhases.size() && !exited_; ++pass) {
    const Phase before = phase_;
    drive_phase(out);
    if (phase_ == before || leaving_) return;
  }
}

void Root::drive_phase(Outputs& out) {
  if (failed_ || phase_ == Phase::done) return;
  if (now_ - phase_started_ > config_.phase_timeout) {
    fail("phase " + std::string(phase_name(phase_)) + " did not finish within " +
             std::to_string(
                 std::chrono::duration_cast<std::chrono::seconds>(config_.phase_timeout).count()) +
             "s" + (reason_.empty() ? "" : "; last error: " + reason_),
         out);
    return;
  }
  switch (phase_) {
    case Phase::preflight:
      step_preflight(out);
      break;
    case Phase::pki:
      progress(std::to_string(plan_.vms.size() + plan_.replicas.size()) +
                   " component identities; certificates are issued by the host",
               false, false, out);
      enter(Phase::directors, out);
      break;
    case Phase::directors:
      step_directors(out);
      break;
    case Phase::workers:
      step_workers(out);
      break;
    case Phase::orchestrators:
      step_orchestrators(out);
      break;
    case Phase::reg:
      step_register(out);
      break;
    case Phase::takeover:
    case Phase::verify:
      step_takeover_and_verify(out);
      break;
    case Phase::teardown:
      step_teardown(out);
      break;
    case Phase::done:
      break;
  }
}

void Root::step_preflight(Outputs& out) {
  if (nodes_listed_.size() == directors_.size()) {
    enter(Phase::pki, out);
    return;
  }
  if (!retry_due()) return;
  for (const auto& [node, view] : directors_) {
    const bool pending = nodes_pending_.count(node) > 0;
    if (nodes_listed_.count(node) || pending) continue;
    const std::uint64_t id = next_op_id_++;
    pending_ops_[id] = node;
    nodes_pending_.insert(node);
    out.push_back(DriverCall{id, VmOp{VmOpKind::list, node, "", 0, 0, {}}});
  }
}

void Root::step_directors(Outputs& out) {
  if (all(&DirectorView::claimed, "Directors up and claimed", out)) {
    enter(Phase::workers, out);
    return;
  }
  if (!retry_due()) return;
  for (auto& [node, view] : directors_) {
    const bool pending = nodes_pending_.count(node) > 0;
    if (!view.vm_created && !pending) {
      const std::uint64_t id = next_op_id_++;
      pending_ops_[id] = node;
      nodes_pending_.insert(node);
      out.push_back(DriverCall{id, VmOp{VmOpKind::create,
                                        node,
                                        director_vm_name(plan_.cluster, node),
                                        config_.cluster.director_vm.cpu_millis,
                                        config_.cluster.director_vm.memory_bytes,
                                        {{"node", node}, {"role", "director"}}}});
    }
    if (view.vm_created && !view.claimed) {
      v1::DirectorCommand claim = fenced();
      claim.mutable_claim();
      command(node, std::move(claim), out);
    }
  }
}

void Root::step_workers(Outputs& out) {
  if (all(&DirectorView::workers_ready, "nodes with their worker VMs and Agents up", out)) {
    enter(Phase::orchestrators, out);
    return;
  }
  if (!retry_due()) return;
  for (const auto& [node, view] : directors_) {
    if (view.workers_ready) continue;
    v1::DirectorCommand c = fenced();
    for (const auto& spec : worker_specs(node)) *c.mutable_ensure_workers()->add_vms() = spec;
    command(node, std::move(c), out);
  }
}

void Root::step_orchestrators(Outputs& out) {
  if (all(&DirectorView::replicas_ready, "nodes with their Orchestrator replicas running", out)) {
    enter(Phase::reg, out);
    return;
  }
  if (!retry_due()) return;
  for (const auto& [node, view] : directors_) {
    if (view.replicas_ready) continue;
    v1::DirectorCommand c = fenced();
    for (const auto& spec : replica_specs(node))
      *c.mutable_ensure_replicas()->add_replicas() = spec;
    command(node, std::move(c), out);
  }
}

void Root::step_register(Outputs& out) {
  if (!retry_due()) return;
  const auto targets = members();
  OMNI_ASSERT(!targets.empty());
  const Address to =
      !leader_hint_.empty() ? leader_hint_ : targets[orchestrator_target_++ % targets.size()];
  leader_hint_.clear();  // a hint is tried once; silence falls back to the round robin
  v1::Envelope e;
  e.set_seq(next_seq_++);
  *e.mutable_hand_over() = hand_over();
  out.push_back(Send{to, std::move(e)});
}

void Root::step_takeover_and_verify(Outputs& out) {
  if (phase_ == Phase::verify && verified_by_leader_ &&
      all(&DirectorView::controlled_by_cluster, "Directors controlled by the cluster", out)) {
    enter(Phase::teardown, out);
    return;
  }
  if (!retry_due()) return;
  const auto targets = members();
  const Address to =
      !leader_hint_.empty() ? leader_hint_ : targets[orchestrator_target_++ % targets.size()];
  leader_hint_.clear();
  v1::Envelope status;
  status.set_seq(next_seq_++);
  status.mutable_status_request()->set_nonce(++status_nonce_);
  out.push_back(Send{to, std::move(status)});
  if (phase_ != Phase::verify) return;
  // Read-only: Directors answer an Inspect even after they stopped obeying the root.
  for (const auto& [node, view] : directors_) {
    if (view.controlled_by_cluster) continue;
    v1::Envelope inspect;
    inspect.set_seq(next_seq_++);
    inspect.mutable_inspect()->set_nonce(status_nonce_);
    out.push_back(Send{director::director_address(node), std::move(inspect)});
  }
}

void Root::step_teardown(Outputs& out) {
  if (config_.testing_act_after_teardown) {
    if (!retry_due()) return;  // broken, but at the pace of a real root
    v1::DirectorCommand claim = fenced();
    claim.mutable_claim();
    for (const auto& [node, view] : directors_) command(node, claim, out);
    return;
  }
  enter(Phase::done, out);
  progress("the cluster manages itself; the root is gone", false, true, out);
  leaving_ = true;
}

void Root::enter(Phase next, Outputs& out) {
  OMNI_ASSERT(next > phase_ || (next == Phase::takeover && phase_ < Phase::takeover));
  phase_ = next;
  phase_started_ = now_;
  views_changed_ = true;  // the new phase's condition may hold already
  reported_ready_ = 0;
  sent_once_ = false;
  reason_.clear();
  persist(out);
  if (next != Phase::done) progress("", false, false, out);
  OMNI_ASSERT(phase_ == next);
}

void Root::fail(const std::string& reason, Outputs& out) {
  OMNI_ASSERT(!reason.empty());
  failed_ = true;
  reason_ = reason;
  persist(out);
  progress(reason, true, false, out);
  leaving_ = true;
}

void Root::progress(const std::string& detail, bool failed, bool done, Outputs& out) {
  v1::Envelope e;
  auto* p = e.mutable_progress();
  p->set_phase(std::string(phase_name(phase_)));
  p->set_detail(detail);
  p->set_failed(failed);
  p->set_done(done);
  out.push_back(Send{kProgressAddress, std::move(e)});
}

// Written twice: a damaged record is skipped and the copy keeps the epoch. With one record, a
// damaged checkpoint sent the root back to epoch 1, below the epoch its Directors held, and the
// next run stopped as if another init controlled them.
void Root::persist(Outputs& out) const {
  v1::RootCheckpoint checkpoint;
  checkpoint.set_epoch(epoch_);
  checkpoint.set_phase(std::string(phase_name(phase_)));
  checkpoint.set_failed(failed_);
  checkpoint.set_reason(reason_);
  const std::string record = seal(checkpoint.SerializeAsString());
  out.push_back(Persist{record, true, true});
  out.push_back(Persist{record, true, false});
}

void Root::command(const std::string& node, v1::DirectorCommand c, Outputs& out) {
  v1::Envelope e;
  e.set_seq(next_seq_++);
  *e.mutable_director_command() = std::move(c);
  out.push_back(Send{director::director_address(node), std::move(e)});
}

v1::DirectorCommand Root::fenced() const {
  OMNI_ASSERT(epoch_ > 0);
  v1::DirectorCommand c;
  *c.mutable_fence() = omni::to_proto(FenceValue{kRootEra, epoch_});
  c.set_controller(config_.self);
  OMNI_ASSERT(!c.controller().empty());
  return c;
}

v1::HandOver Root::hand_over() const {
  v1::HandOver h;
  h.set_epoch(epoch_);
  *h.mutable_cluster() = orchestrator::to_cluster_spec(config_.cluster);
  for (const auto& [node, view] : directors_) h.add_directors(director::director_address(node));
  for (const auto& [node, view] : directors_)
    for (const auto& spec : replica_specs(node)) *h.add_replicas() = spec;
  for (const auto& app : config_.cluster.apps) *h.add_apps() = orchestrator::to_app_spec(app);
  return h;
}

const std::vector<v1::VmSpec>& Root::worker_specs(const std::string& node) const {
  static const std::vector<v1::VmSpec> kNone;
  const auto it = workers_by_node_.find(node);
  return it == workers_by_node_.end() ? kNone : it->second;
}

const std::vector<v1::ReplicaSpec>& Root::replica_specs(const std::string& node) const {
  static const std::vector<v1::ReplicaSpec> kNone;
  const auto it = replicas_by_node_.find(node);
  return it == replicas_by_node_.end() ? kNone : it->second;
}

// The plan as wire specs, indexed by node once: the root answers thousands of reports.
void Root::index_plan() {
  for (const auto& vm : plan_.vms) {
    if (vm.role != VmRole::worker) continue;
    v1::VmSpec spec;
    spec.set_name(vm.name);
    *spec.mutable_resources() = to_proto(vm.resources);
    workers_by_node_[vm.node].push_back(std::move(spec));
  }
  const std::vector<Address> all_members = members();
  for (const auto& r : plan_.replicas) {
    v1::ReplicaSpec spec;
    spec.set_vm(r.vm);
    auto* c = spec.mutable_container();
    c->set_name(r.name);
    c->set_image(config_.orchestrator_image);
    for (auto& arg : replica_args(r.replica, all_members)) c->add_args(arg);
    *c->mutable_resources() = to_proto(r.resources);
    c->set_replica(static_cast<std::uint32_t>(r.replica));
    replicas_by_node_[r.node].push_back(std::move(spec));
  }
  OMNI_ASSERT(workers_by_node_.size() == config_.cluster.nodes.size());
}

std::vector<Address> Root::members() const {
  std::vector<Address> out;
  for (const auto& r : plan_.replicas) out.push_back(orchestrator_address(r.replica));
  return out;
}

// Whether every Director's view has `field`. Scanning thousands of views on every message
// would make a large init quadratic, so the scan runs only after a view changed.
// Whether every Director's view has `field`; a person sees the count each time it grows
// ("2/3 Directors up and claimed"), as kubeadm prints its steps.
bool Root::all(bool DirectorView::*field, const char* counted, Outputs& out) {
  if (!views_changed_) return false;
  views_changed_ = false;
  const std::size_t ready = ready_count(field);
  OMNI_ASSERT(ready <= directors_.size());
  if (ready > reported_ready_) {
    reported_ready_ = ready;
    progress(std::to_string(ready) + "/" + std::to_string(directors_.size()) + " " + counted, false,
             false, out);
  }
  return ready == directors_.size();
}

bool Root::retry_due() {
  if (sent_once_ && now_ - last_send_ < config_.retry_interval) return false;
  sent_once_ = true;
  last_send_ = now_;
  return true;
}

}  // namespace omni::root
