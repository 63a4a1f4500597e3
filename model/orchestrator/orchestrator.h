#pragma once
// An Orchestrator: one Raft replica (RaftNode) replicating ClusterState, started as a
// container by an Agent. Its leader takes control of every Director with its term, keeps
// them controlled, re-issues the desired VMs and replicas under that term (closing the loop),
// answers the root's hand-over and status requests, and notices lost members.
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/core/step.h"
#include "model/orchestrator/cluster_state.h"
#include "model/raft/raft_node.h"

namespace omni::orchestrator {

struct OrchestratorConfig {
  Address self;                  // "orchestrator:N", also its Raft id
  std::vector<Address> members;  // the initial voters, identical on every replica
  raft::RaftConfig raft;
  Duration control_interval = 1s;  // resend TakeControl / desired state until acknowledged
  Duration member_lost_after = 10s;
  // A Director silent this long is taken for lost with its VM: the leader has the node's
  // hypervisor create (or boot) the Director VM again, at most once per this interval.
  Duration director_lost_after = 30s;
};

// What the leader knows of one Director, for status and tests.
struct DirectorView {
  Address director;
  bool controlled = false;       // acknowledged TakeControl at the current term
  bool desired_acked = false;    // acknowledged the current desired VMs and replicas
  std::string last_rejection;    // why the Director last refused the desired state, if it did
  std::uint32_t vm_recoveries = 0;  // times its VM was created or booted again by this leader
};

class Orchestrator final : public Component {
 public:
  Orchestrator(OrchestratorConfig config, Rng rng);
  void step(const Input& input, Outputs& out) override;

  const raft::RaftNode& node() const { return *node_; }
  void set_apply_observer(raft::RaftNode::ApplyObserver observer) {
    node_->set_apply_observer(std::move(observer));
  }
  const ClusterState& state() const { return state_; }
  bool is_leader() const;
  std::uint64_t term() const;
  // Directors that acknowledged TakeControl at the current term (leader only).
  std::vector<Address> controlled_directors() const;
  std::uint32_t members_lost() const { return static_cast<std::uint32_t>(lost_.size()); }
  // Every Director as this leader sees it (empty on a follower), ordered by address.
  std::vector<DirectorView> directors() const;
  // Messages refused where they entered: Raft traffic from a non-member, a proposal from
  // anyone but this replica.
  std::uint64_t dropped_messages() const { return dropped_messages_; }

  // Parses "--replica=N --members=a,b,c" as the Root writes them; nullopt when malformed.
  static std::optional<OrchestratorConfig> from_args(const std::vector<std::string>& args);

 private:
  struct DirectorControl {
    std::uint64_t term = 0;  // acknowledged TakeControl at this term
    // Seqs of the desired-state commands sent and not yet acknowledged; empty once both were.
    std::set<std::uint64_t> unacked_seqs;
    bool desired_acked = false;
    std::string last_rejection;
    Time last_heard{};         // the Director's last report
    Time next_vm_recovery{};   // no VM recovery for it before this
    std::uint32_t vm_recoveries = 0;
  };
  struct StatusWaiter {
    Address to;
    std::uint64_t seq = 0;
    std::uint64_t nonce = 0;
  };

  bool admits_raft_message(const Address& from, const v1::RaftMessage& m) const;
  void step_raft(const Input& input, Outputs& out);
  void on_client_reply(const v1::RaftClientReply& reply, Outputs& out);
  void on_hand_over(const Address& from, std::uint64_t seq, const v1::HandOver& h, Outputs& out);
  void on_status_request(const Address& from, std::uint64_t seq, const v1::StatusRequest& s,
                         Outputs& out);
  void on_director_report(const Address& from, std::uint64_t seq, const v1::DirectorReport& r);
  void on_driver_done(const DriverDone& done);
  void lead(Outputs& out);
  void begin_term();
  void reconcile_director(const Address& director, DirectorControl& control, Outputs& out);
  void control_director(const Address& director, Outputs& out);
  void send_desired(const Address& director, DirectorControl& control, Outputs& out);
  void recover_director_vm(const Address& director, DirectorControl& control, Outputs& out);
  struct NodeDesired {
    v1::VmSpec director_vm;  // the Director's own VM, as the root created it
    std::vector<v1::VmSpec> vms;
    std::vector<v1::ReplicaSpec> replicas;
  };
  using DesiredByNode = std::map<std::string, NodeDesired>;
  const DesiredByNode* desired_by_node();
  void notice_lost_members();
  void propose(const v1::ClusterCommand& command, std::uint64_t request_id, Outputs& out);
  void reply_status(const StatusWaiter& w, bool committed, Outputs& out);
  v1::Fence fence() const;

  OrchestratorConfig config_;
  ClusterState state_;
  std::unique_ptr<raft::RaftNode> node_;
  Time now_{};
  Time next_control_{};
  std::uint64_t led_term_ = 0;
  std::map<Address, DirectorControl> directors_;
  std::set<Address> lost_;
  std::map<std::uint64_t, std::pair<Address, std::uint64_t>>
      hand_over_waiters_;                                 // request -> (from, seq)
  std::map<std::uint64_t, StatusWaiter> status_waiters_;  // request id -> waiter
  std::map<std::uint64_t, Address> vm_ops_;               // driver op id -> Director
  std::optional<DesiredByNode> desired_;  // derived from the replicated state, cached
  std::string desired_source_;            // the config it was derived from
  std::uint64_t next_request_id_ = 1;
  std::uint64_t next_seq_ = 1;
  std::uint64_t next_op_id_ = 1;
  std::uint64_t dropped_messages_ = 0;
};

}  // namespace omni::orchestrator
