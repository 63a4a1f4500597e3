#pragma once
// A Component hosting one Raft replica and the application it replicates. Handles Start
// (recovery), Deliver (raft traffic and client requests) and Tick, applies committed entries
// to the StateMachine, answers clients, and compacts the log into application snapshots.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/core/step.h"
#include "model/raft/raft.h"

namespace omni::raft {

// The replicated application. Called only from RaftNode::step, in log order.
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // A committed entry with application data (leader no-ops and configurations are not passed).
  virtual void apply(const v1::RaftEntry& entry) = 0;
  virtual std::string snapshot() const = 0;  // the state after the last applied entry
  virtual void restore(const std::string& snapshot) = 0;
};

class RaftNode : public Component {
 public:
  // Observes every applied entry (including no-ops and configurations), for invariant checkers.
  using ApplyObserver = std::function<void(const NodeId& node, const v1::RaftEntry& entry)>;

  RaftNode(NodeId id, std::vector<NodeId> initial_voters, RaftConfig config, Rng rng,
           StateMachine* state_machine);

  void step(const Input& input, Outputs& out) override;

  void set_apply_observer(ApplyObserver observer) { observer_ = std::move(observer); }
  const Raft& raft() const { return raft_; }
  Term fencing_term() const { return raft_.fencing_term(); }
  std::size_t pending_client_requests() const { return proposals_.size() + reads_.size(); }

 private:
  struct Client {
    Address address;
    std::uint64_t request_id = 0;
  };
  struct PendingProposal {
    Client client;
    Term term = 0;
  };
  struct PendingRead {
    Client client;
    Index index = 0;
    bool confirmed = false;
  };

  void handle_client_request(Time now, const Address& from, const v1::RaftClientRequest& request,
                             Outputs& out);
  void answer_request_result(const Client& client, const RequestResult& result, Outputs& out);
  void reply(const Client& client, v1::RaftClientStatus status, Index index, Term term,
             std::string error, Outputs& out);
  void after_raft(Outputs& out);
  void restore_snapshot(Outputs& out);
  void apply_committed(Outputs& out);
  void resolve_proposal(const v1::RaftEntry& entry, Outputs& out);
  void answer_reads(Outputs& out);
  void maybe_compact(Outputs& out);

  Raft raft_;
  RaftConfig config_;
  StateMachine* state_machine_;
  ApplyObserver observer_;
  std::map<Index, PendingProposal> proposals_;  // by entry index
  std::map<std::uint64_t, PendingRead> reads_;  // by read context
  std::uint64_t next_read_context_ = 1;
};

}  // namespace omni::raft
