#pragma once
// The Director: one per node, in its own VM. Creates and destroys the node's worker VMs within
// the node's capacity, has their Agents run the containers placed on them, and reports. It
// obeys one controller at a time, chosen by fence (root epoch, then Raft term), persists that
// choice and its checkpoint before acting, and rejects anything older.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/config/cluster_config.h"
#include "model/core/step.h"
#include "model/director/fence.h"
#include "model/proto/state.pb.h"

namespace omni::director {

struct DirectorConfig {
  std::string node;
  std::string own_vm;                // the Director's VM; never touched by the Director
  Address root = "root";             // where to say hello before any controller is known
  config::Resources capacity;        // the node's total
  config::Resources director_vm;     // already taken by the Director's own VM
  Duration reconcile_interval = 1s;  // poll VMs, resend desired containers
  Duration report_interval = 2s;
  std::size_t max_ops_in_flight = 8;
  // Under a cluster leader, app containers run only while the leader is known to hear this
  // Director: for this long after a report the leader has echoed back. The leader moves the
  // apps of a Director silent for longer (and more than any clock drift), so one app replica
  // never runs in two places, even across a partition. 15 s, not 10: a report and its echo
  // are up to 4 s old when the leader crashes, and a new leader is elected 1 to 2 s later, more
  // under loss, then takes control before it renews; with 10 s, repeated fail-overs under 20%
  // message loss stopped apps twice as often as with the old 150 ms election timeout.
  Duration app_lease = 15s;
  bool testing_accept_stale_fence = false;  // test-only: a broken Director the checkers must catch
};

// The last fenced command this Director executed, for the fencing checker.
struct ExecutedCommand {
  FenceValue fence;
  Address controller;
  std::uint64_t count = 0;  // grows with every executed command
  bool claim_only = false;  // a claim changes who controls, not what runs
};

class Director final : public Component {
 public:
  explicit Director(DirectorConfig config);
  void step(const Input& input, Outputs& out) override;

  // Inspection (checkers, tests).
  FenceValue accepted() const { return accepted_; }
  const Address& controller() const { return controller_; }
  // Checkpoints found torn or corrupt at the last start (their checksum did not match).
  std::uint32_t corrupt_checkpoints() const { return corrupt_checkpoints_; }
  const ExecutedCommand& last_executed() const { return executed_; }
  const std::vector<v1::VmSpec>& desired_vms() const { return desired_vms_; }
  std::vector<std::string> running_vms() const;
  const DirectorConfig& config() const { return config_; }
  bool apps_fenced() const { return apps_fenced_; }

 private:
  std::uint32_t corrupt_checkpoints_ = 0;
  struct Vm {
    bool exists = false;
    bool running = false;
    bool agent_ready = false;
    bool op_pending = false;
  };
  struct PendingOp {
    VmOpKind kind;
    std::string vm;
  };

  void on_start(const Start& start, Outputs& out);
  void on_deliver(const Deliver& deliver, Outputs& out);
  void on_tick(const Tick& tick, Outputs& out);
  void on_driver_done(const DriverDone& done, Outputs& out);

  void on_command(const Address& from, std::uint64_t seq, const v1::DirectorCommand& command,
                  Outputs& out);
  void on_take_control(const Address& from, std::uint64_t seq, const v1::TakeControl& take,
                       Outputs& out);
  void on_agent_report(const Address& from, const v1::AgentReport& report, Outputs& out);
  void on_agent_hello(const Address& from, Outputs& out);

  bool admit(FenceValue fence, const Address& from);
  // Whether `from` may act at `fence` at all: era 0 is the root's, era 1 the Orchestrators'.
  bool may_hold(FenceValue fence, const Address& from) const;
  bool is_root_address(const Address& from) const;
  bool is_own_vm(const std::string& vm) const;
  std::uint64_t* last_seq_of(const v1::DirectorCommand& command);
  std::optional<std::string> capacity_problem(const std::vector<v1::VmSpec>& vms) const;
  void execute(FenceValue fence, const Address& from, const v1::DirectorCommand& command);
  void persist_checkpoint(Outputs& out) const;
  void poll(Outputs& out);
  void reconcile(Outputs& out);
  void reconcile_vm(const v1::VmSpec& spec, Outputs& out);
  void remove_undesired_vms(Outputs& out);
  void send_containers(const std::string& vm, Outputs& out);
  void call_vm(VmOpKind kind, const std::string& vm, const config::Resources& r, Outputs& out);
  void report(const Address& to, std::uint64_t seq, bool rejected, const std::string& reason,
              Outputs& out);
  v1::DirectorReport make_report() const;
  bool is_desired(const std::string& vm) const;
  bool renew_lease(const Address& from, std::uint64_t report_seq);
  bool lease_expired() const;
  Duration app_lease_left() const;
  bool fence_apps_if_lease_changed(Outputs& out);
  void pass_lease_to_agents(Outputs& out);
  bool runs_apps_in(const std::string& vm) const;
  std::string vm_of_agent(const Address& agent) const;

  DirectorConfig config_;
  Time now_{};
  // Persisted (the checkpoint).
  FenceValue accepted_;
  Address controller_;
  std::vector<v1::VmSpec> desired_vms_;  // sorted by name
  std::vector<v1::ReplicaSpec> replicas_;
  std::uint64_t generation_ = 0;
  // Volatile.
  // A good checkpoint was read or a controller gave the worker VMs: only then is a VM that is not
  // desired removed.
  bool desired_vms_known_ = false;
  std::map<std::string, Vm> vms_;
  std::map<std::string, v1::AgentReport> agent_reports_;
  std::map<std::uint64_t, PendingOp> pending_;
  std::uint64_t next_op_id_ = 1;
  std::uint64_t next_seq_ = 1;
  bool listed_ = false;
  bool list_pending_ = false;
  Time next_reconcile_{};
  Time next_report_{};
  std::string last_error_;
  ExecutedCommand executed_;
  // The envelope seqs of the last EnsureWorkers and EnsureReplicas executed at accepted_
  // (persisted), one for each kind: a leader sends both back to back, and a swapped pair must
  // not drop the first. One controller's seqs grow, and a late copy of an older command of a
  // kind (the network reorders and duplicates) must not undo a newer one: its answer was for a
  // seq the leader no longer waits on, so nothing would have set it right until the next change.
  std::uint64_t workers_seq_ = 0;
  std::uint64_t replicas_seq_ = 0;
  // The app lease (volatile): reports sent lately, by seq, and when; seqs start from the start
  // time so an echo of a report from before a restart never matches a new one.
  static constexpr std::size_t kReportsRemembered = 16;
  // How far an Agent's generation may be ahead of this Director's (lease flips it never
  // persisted) for the Director to move past it.
  static constexpr std::uint64_t kMaxGenerationLead = std::uint64_t{1} << 32;
  std::deque<std::pair<std::uint64_t, Time>> reports_sent_;
  std::uint64_t next_report_seq_ = 1;
  Time lease_from_{};
  // Set by the first echo this incarnation is sent: only then may it grant its Agents time to run
  // apps. A restarted Director does not know whether its lease ran out while it was down.
  bool lease_granted_ = false;
  bool apps_fenced_ = false;
};

// "agent:VM" for a worker VM's Agent, and back.
Address agent_address(const std::string& vm);
Address director_address(const std::string& node);

}  // namespace omni::director
