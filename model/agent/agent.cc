#include "model/agent/agent.h"

#include <algorithm>

#include "model/config/quantity.h"
#include "model/config/resource_limits.h"
#include "model/core/assert.h"
#include "model/core/sealed.h"

namespace omni::agent {

Duration next_backoff(Duration current, Duration min, Duration max) {
  OMNI_ASSERT(min > 0ns && min <= max);
  const Duration next = current < min ? min : std::min(current * 2, max);
  OMNI_ASSERT(next >= min && next <= max);
  return next;
}

Agent::Agent(AgentConfig config) : config_(std::move(config)) {
  OMNI_ASSERT(!config_.vm.empty() && !config_.director.empty());
  OMNI_ASSERT(config_.backoff_min > 0ns && config_.backoff_min <= config_.backoff_max);
}

void Agent::step(const Input& input, Outputs& out) {
  const Time now = now_of(input);
  OMNI_ASSERT(now >= now_, "time never goes back for one component");
  now_ = now;
  std::visit(
      [&](const auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, Start>) on_start(in, out);
        if constexpr (std::is_same_v<T, Deliver>) on_deliver(in, out);
        if constexpr (std::is_same_v<T, Tick>) on_tick(out);
        if constexpr (std::is_same_v<T, DriverDone>) on_driver_done(in, out);
      },
      input);
  OMNI_ASSERT(pending_.size() <= config_.max_ops_in_flight + 1, "driver calls are bounded");
}

void Agent::on_start(const Start& start, Outputs& out) {
  for (const auto& record : start.persisted) {
    v1::AgentCheckpoint checkpoint;
    const auto payload = unseal(record);
    if (!payload || !checkpoint.ParseFromString(*payload)) {
      ++corrupt_checkpoints_;  // torn or corrupt: keep the last good one, never a misread
      break;
    }
    generation_ = checkpoint.generation();
    desired_.assign(checkpoint.containers().begin(), checkpoint.containers().end());
  }
  // Back from a crash or a power loss, the Agent brings back on its own only the Orchestrator
  // replicas (the cluster needs them before anyone can command it). Its apps wait for its
  // Director: while the Agent was down they may have moved elsewhere, and only a Director that
  // holds a live lease may run them (model/director/director.h, the app lease).
  const auto before = desired_.size();
  std::erase_if(desired_, [](const v1::ContainerSpec& c) { return c.replica() == 0; });
  OMNI_ASSERT(desired_.size() <= before);
  OMNI_ASSERT(std::all_of(desired_.begin(), desired_.end(),
                          [](const v1::ContainerSpec& c) { return c.replica() != 0; }));
  encode_desired();
  v1::Envelope hello;
  hello.mutable_hello()->set_component("agent:" + config_.vm);
  out.push_back(Send{config_.director, hello});
  next_report_ = now_ + config_.report_interval;
  poll(out);
  schedule(out);
}

void Agent::on_deliver(const Deliver& d, Outputs& out) {
  if (d.from != config_.director) return;  // only this VM's Director commands its Agent
  if (d.envelope.has_run_containers()) on_run_containers(d.envelope.run_containers(), out);
}

void Agent::on_run_containers(const v1::RunContainers& run, Outputs& out) {
  if (run.generation() < generation_) {
    report(false, "", out);  // an old set, overtaken by a newer one: say what we run
    return;
  }
  if (const std::string problem = capacity_problem(run);
      !problem.empty() && !config_.testing_ignore_capacity) {
    report(true, problem, out);
    return;
  }
  const auto max_lease_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.max_app_lease);
  if (run.app_lease_ms() > static_cast<std::uint64_t>(max_lease_ms.count())) {
    report(true,
           "an app lease of " + std::to_string(run.app_lease_ms()) + " ms, more than the " +
               std::to_string(max_lease_ms.count()) + " ms a Director grants",
           out);
    return;
  }
  // Never shortened by a later set: each grant is what was left of a lease its Director held.
  const Time leased_until = now_ + std::chrono::milliseconds(run.app_lease_ms());
  if (run.app_lease_ms() > 0) apps_leased_until_ = std::max(apps_leased_until_, leased_until);
  const bool changed = run.generation() != generation_ ||
                       static_cast<std::size_t>(run.containers_size()) != desired_.size();
  generation_ = run.generation();
  desired_.assign(run.containers().begin(), run.containers().end());
  encode_desired();
  if (changed) persist(out);
  reconcile(out);
  report(false, "", out);
  OMNI_ASSERT(generation_ == run.generation());
}

std::string Agent::capacity_problem(const v1::RunContainers& run) const {
  std::int64_t cpu = 0;
  std::int64_t memory = 0;
  for (const auto& c : run.containers()) {
    const auto& r = c.resources();
    // Zero is out of range too: the runtime reads a limit of 0 as no limit at all, so such a
    // container would take what it likes of a VM that counted it as taking nothing.
    if (r.cpu_millis() <= 0 || r.memory_bytes() <= 0 || r.cpu_millis() > config::kMaxCpuMillis ||
        r.memory_bytes() > config::kMaxMemoryBytes)
      return "container " + c.name() + " asks for resources out of range (cpu and memory must " +
             "be more than zero and at most " + config::format_cpu_millis(config::kMaxCpuMillis) +
             " cores and " + config::format_memory_bytes(config::kMaxMemoryBytes) + ")";
    // Each amount is within the limits, and the sums stop growing once past the VM's capacity:
    // however many containers come, the sums stay exact.
    cpu = std::min(cpu + r.cpu_millis(), config::kMaxCpuMillis + 1);
    memory = std::min(memory + r.memory_bytes(), config::kMaxMemoryBytes + 1);
  }
  OMNI_ASSERT(cpu >= 0 && memory >= 0);
  OMNI_ASSERT(cpu <= config::kMaxCpuMillis + 1 && memory <= config::kMaxMemoryBytes + 1);
  if (memory > config_.capacity.memory_bytes)
    return "not enough memory in " + config_.vm + " for its containers: need " +
           config::format_memory_bytes(memory) + ", the VM has " +
           config::format_memory_bytes(config_.capacity.memory_bytes);
  if (cpu > config_.capacity.cpu_millis)
    return "not enough cpu in " + config_.vm + " for its containers: need " +
           config::format_cpu_millis(cpu) + ", the VM has " +
           config::format_cpu_millis(config_.capacity.cpu_millis);
  return "";
}

void Agent::on_tick(Outputs& out) {
  if (now_ >= next_poll_) poll(out);
  reconcile(out);  // back-offs that ran out since the last step
  if (now_ >= next_report_) {
    report(false, "", out);
    next_report_ = now_ + config_.report_interval;
  }
  schedule(out);
}

void Agent::schedule(Outputs& out) {
  Time next = std::min(next_poll_, next_report_);
  for (const auto& [name, c] : containers_)
    if (!c.running && !c.op_pending && is_wanted(name) && c.next_attempt > now_)
      next = std::min(next, c.next_attempt);
  if (holds_app_lease()) next = std::min(next, apps_leased_until_);  // its apps stop then
  OMNI_ASSERT(next > now_);
  out.push_back(WakeAt{next});
}

// The runtime is polled, not trusted to push: a list every poll_interval tells which
// containers still run, whatever happened to them in between.
void Agent::poll(Outputs& out) {
  next_poll_ = now_ + config_.poll_interval;
  if (!list_pending_ && pending_.size() < config_.max_ops_in_flight) {
    list_pending_ = true;
    call(ContainerOp{ContainerOpKind::list, "", "", {}, 0, 0}, out);
  }
  OMNI_ASSERT(next_poll_ > now_);
}

void Agent::reconcile(Outputs& out) {
  if (!listed_) return;
  OMNI_ASSERT(desired_bytes_.size() == desired_.size(), "every desired spec is encoded");
  for (std::size_t i = 0; i < desired_.size(); ++i) {
    const v1::ContainerSpec& spec = desired_[i];
    if (!may_run(spec)) continue;
    ContainerState& state = containers_[spec.name()];
    if (!state.running && !state.op_pending && state.next_attempt <= now_ &&
        pending_.size() < config_.max_ops_in_flight)
      start_container(spec, desired_bytes_[i], state, out);
    else if (runs_another_spec(state, desired_bytes_[i]) &&
             pending_.size() < config_.max_ops_in_flight)
      replace_container(spec.name(), state, out);
  }
  for (auto& [name, state] : containers_) {
    if (state.exists && !state.op_pending && !is_wanted(name) &&
        pending_.size() < config_.max_ops_in_flight) {
      state.op_pending = true;
      call(ContainerOp{ContainerOpKind::remove, name, "", {}, 0, 0}, out);
    }
  }
}

// The specs' bytes, encoded once each time the desired set is given: a reconcile (every poll)
// compared each running container's started bytes with its spec encoded anew.
void Agent::encode_desired() {
  desired_bytes_.clear();
  for (const auto& spec : desired_) desired_bytes_.push_back(spec.SerializeAsString());
  OMNI_ASSERT(desired_bytes_.size() == desired_.size());
}

void Agent::start_container(const v1::ContainerSpec& spec, const std::string& spec_bytes,
                            ContainerState& state, Outputs& out) {
  OMNI_ASSERT(!state.running && !state.op_pending);
  state.op_pending = true;
  std::vector<std::string> args(spec.args().begin(), spec.args().end());
  call(ContainerOp{ContainerOpKind::create, spec.name(), spec.image(), std::move(args),
                   spec.resources().cpu_millis(), spec.resources().memory_bytes(), spec.archive()},
       out, spec_bytes);
  OMNI_ASSERT(state.op_pending);
}

// A changed spec (an app's new image, args or resources) cannot be applied to a running
// container: it is removed, and the next reconcile creates it from the new spec.
bool Agent::runs_another_spec(const ContainerState& state, const std::string& spec_bytes) const {
  return state.running && !state.op_pending && !state.started_spec.empty() &&
         state.started_spec != spec_bytes;
}

void Agent::replace_container(const std::string& name, ContainerState& state, Outputs& out) {
  OMNI_ASSERT(state.running && !state.op_pending);
  state.op_pending = true;
  ++replacements_;
  call(ContainerOp{ContainerOpKind::remove, name, "", {}, 0, 0}, out);
  OMNI_ASSERT(state.op_pending);
}

void Agent::call(ContainerOp op, Outputs& out, std::string spec) {
  const std::uint64_t id = next_op_id_++;
  pending_[id] = PendingOp{op.kind, op.name, std::move(spec)};
  out.push_back(DriverCall{id, std::move(op)});
}

void Agent::on_driver_done(const DriverDone& done, Outputs& out) {
  const auto it = pending_.find(done.op_id);
  if (it == pending_.end()) return;
  const PendingOp op = it->second;
  pending_.erase(it);
  const bool ok =
      done.result.status == DriverStatus::ok || done.result.status == DriverStatus::already_exists;
  if (op.kind == ContainerOpKind::list) {
    list_pending_ = false;
    if (ok) on_listed(done.result);
    reconcile(out);
    return;
  }
  ContainerState& state = containers_[op.name];
  state.op_pending = false;
  if (op.kind == ContainerOpKind::remove) {
    if (ok) containers_.erase(op.name);
    return;
  }
  if (ok) {
    state.exists = true;
    state.running = true;
    state.running_since = now_;
    state.started_spec = op.spec;
    if (!is_wanted(op.name)) reconcile(out);  // a newer set dropped it while it started
  } else {
    state.backoff = next_backoff(state.backoff, config_.backoff_min, config_.backoff_max);
    state.next_attempt = now_ + state.backoff;
  }
  report(false, ok ? "" : done.result.message, out);
}

void Agent::on_listed(const DriverResult& result) {
  listed_ = true;
  for (auto& [name, state] : containers_) {
    if (state.op_pending) continue;
    const bool running = std::binary_search(result.running.begin(), result.running.end(), name);
    state.exists = std::binary_search(result.names.begin(), result.names.end(), name);
    if (state.running && !running) {  // it stopped on its own: restart after a back-off
      const bool was_stable = now_ - state.running_since >= config_.stable_after;
      state.backoff = was_stable
                          ? config_.backoff_min
                          : next_backoff(state.backoff, config_.backoff_min, config_.backoff_max);
      state.next_attempt = now_ + state.backoff;
      ++state.restarts;
    }
    state.running = running;
  }
  for (const auto& name : result.names) containers_[name].exists = true;
  for (const auto& name : result.running) {
    ContainerState& state = containers_[name];
    if (!state.running) state.running_since = now_;
    state.exists = true;  // whatever the runtime's other list says: what runs exists
    state.running = true;
  }
}

void Agent::report(bool rejected, const std::string& reason, Outputs& out) {
  v1::Envelope e;
  auto* r = e.mutable_agent_report();
  r->set_vm(config_.vm);
  r->set_generation(generation_);
  r->set_rejected(rejected);
  r->set_reason(reason);
  for (const auto& spec : desired_) {
    const auto it = containers_.find(spec.name());
    auto* status = r->add_containers();
    status->set_name(spec.name());
    status->set_vm(config_.vm);
    status->set_replica(spec.replica());
    status->set_running(it != containers_.end() && it->second.running);
    status->set_restarts(it != containers_.end() ? it->second.restarts : 0);
  }
  // What still runs though no set asks for it (its removal pending or failing), or may start
  // (its create still in flight): the leader places such a replica elsewhere only once it is
  // gone from here.
  for (const auto& [name, state] : containers_) {
    if (!(state.running || state.op_pending) || is_desired(name)) continue;
    auto* status = r->add_containers();
    status->set_name(name);
    status->set_vm(config_.vm);
    status->set_running(state.running);
  }
  out.push_back(Send{config_.director, std::move(e)});
}

void Agent::persist(Outputs& out) const {
  v1::AgentCheckpoint checkpoint;
  checkpoint.set_generation(generation_);
  for (const auto& c : desired_) *checkpoint.add_containers() = c;
  out.push_back(Persist{seal(checkpoint.SerializeAsString()), true, true});
}

bool Agent::is_desired(const std::string& name) const {
  return std::any_of(desired_.begin(), desired_.end(),
                     [&](const v1::ContainerSpec& s) { return s.name() == name; });
}

// An Orchestrator replica runs whatever happens (Raft guards it); an app container only under the
// time its Director last granted, which its Director had from the leader's lease.
bool Agent::may_run(const v1::ContainerSpec& spec) const {
  return spec.replica() != 0 || holds_app_lease();
}

// Desired and allowed to run now: anything else that exists is removed.
bool Agent::is_wanted(const std::string& name) const {
  return std::any_of(desired_.begin(), desired_.end(),
                     [&](const v1::ContainerSpec& s) { return s.name() == name && may_run(s); });
}

}  // namespace omni::agent
