#pragma once
// The Agent: one per worker VM. Runs the containers its Director asks for, within the VM's
// capacity, and keeps them running on its own: a container that stops is restarted with
// exponential back-off, with or without any Orchestrator.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/config/cluster_config.h"
#include "model/core/step.h"
#include "model/proto/state.pb.h"

namespace omni::agent {

struct AgentConfig {
  std::string vm;
  Address director;
  config::Resources capacity;  // the VM's
  Duration poll_interval = 1s;
  Duration report_interval = 5s;
  Duration backoff_min = 500ms;
  Duration backoff_max = 30s;
  Duration stable_after = 10s;  // running this long resets the back-off
  std::size_t max_ops_in_flight = 8;
  // The most app-lease time a Director's set may grant; more is refused as a damaged message.
  Duration max_app_lease = 60s;
  bool testing_ignore_capacity = false;  // TEST ONLY: an Agent the over-commit checker must catch
};

struct ContainerState {
  bool exists = false;  // the runtime has it, running or not
  bool running = false;
  bool op_pending = false;
  std::uint32_t restarts = 0;
  Duration backoff{};
  Time next_attempt{};
  Time running_since{};
  // The spec it was last created with, serialized; empty when unknown (listed after a restart).
  std::string started_spec;
};

class Agent final : public Component {
 public:
  explicit Agent(AgentConfig config);
  void step(const Input& input, Outputs& out) override;

  const std::vector<v1::ContainerSpec>& desired() const { return desired_; }
  const std::map<std::string, ContainerState>& containers() const { return containers_; }
  std::uint64_t generation() const { return generation_; }
  // Checkpoints found torn or corrupt at the last start (their checksum did not match).
  std::uint32_t corrupt_checkpoints() const { return corrupt_checkpoints_; }
  std::uint64_t replacements() const {
    return replacements_;
  }  // containers re-created on a new spec

 private:
  std::uint32_t corrupt_checkpoints_ = 0;
  struct PendingOp {
    ContainerOpKind kind;
    std::string name;
    std::string spec;  // a create's spec, serialized
  };

  void on_start(const Start& start, Outputs& out);
  void on_deliver(const Deliver& deliver, Outputs& out);
  void on_tick(Outputs& out);
  void on_driver_done(const DriverDone& done, Outputs& out);
  void on_run_containers(const v1::RunContainers& run, Outputs& out);
  void on_listed(const DriverResult& result);

  std::string capacity_problem(const v1::RunContainers& run) const;
  void poll(Outputs& out);
  void reconcile(Outputs& out);
  void encode_desired();
  void start_container(const v1::ContainerSpec& spec, const std::string& spec_bytes,
                       ContainerState& state, Outputs& out);
  bool runs_another_spec(const ContainerState& state, const std::string& spec_bytes) const;
  void replace_container(const std::string& name, ContainerState& state, Outputs& out);
  void call(ContainerOp op, Outputs& out, std::string spec = {});
  void report(bool rejected, const std::string& reason, Outputs& out);
  void persist(Outputs& out) const;
  bool is_desired(const std::string& name) const;
  bool holds_app_lease() const { return now_ < apps_leased_until_; }
  bool may_run(const v1::ContainerSpec& spec) const;
  bool is_wanted(const std::string& name) const;
  void schedule(Outputs& out);

  AgentConfig config_;
  Time now_{};
  std::vector<v1::ContainerSpec> desired_;  // persisted
  std::vector<std::string> desired_bytes_;  // desired_[i] encoded (encode_desired())
  std::uint64_t generation_ = 0;            // persisted
  std::map<std::string, ContainerState> containers_;
  std::map<std::uint64_t, PendingOp> pending_;
  std::uint64_t next_op_id_ = 1;
  std::uint64_t replacements_ = 0;
  bool listed_ = false;
  bool list_pending_ = false;
  // Until when the Director's sets let this Agent run app containers (volatile: after a restart
  // it runs none until its Director grants it time again).
  Time apps_leased_until_{};
  Time next_poll_{};
  Time next_report_{};
};

Duration next_backoff(Duration current, Duration min, Duration max);

}  // namespace omni::agent
