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
  // Messages refused where they entered: Raft traffic from a non-member, a proposal from
  // anyone but this replica.
  std::uint64_t dropped_messages() const { return dropped_messages_; }

  // Parses "--replica=N --members=a,b,c" as the Root writes them; nullopt when malformed.
  static std::optional<OrchestratorConfig> from_args(const std::vector<std::string>& args);

 private:
  struct DirectorControl {
    std::uint64_t term = 0;  // acknowledged at this term
    bool desired_sent = false;
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
  void on_director_report(const Address& from, const v1::DirectorReport& r);
  void lead(Outputs& out);
  void control_director(const Address& director, Outputs& out);
  void send_desired(const Address& director, Outputs& out);
  struct NodeDesired {
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
  std::optional<DesiredByNode> desired_;  // derived from the replicated state, cached
  std::string desired_source_;            // the config it was derived from
  std::uint64_t next_request_id_ = 1;
  std::uint64_t next_seq_ = 1;
  std::uint64_t dropped_messages_ = 0;
};

}  // namespace omni::orchestrator
