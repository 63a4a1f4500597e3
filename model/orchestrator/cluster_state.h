#pragma once
// The Orchestrators' replicated state: what the root handed over (config, Directors), and where
// the Orchestrator replicas run as replacements change it. Applied in log order by every
// replica; the same log gives the same state.
#include <cstdint>
#include <string>

#include "model/proto/state.pb.h"
#include "model/raft/raft_node.h"

namespace omni::orchestrator {

class ClusterState final : public raft::StateMachine {
 public:
  void apply(const v1::RaftEntry& entry) override;
  std::string snapshot() const override;
  void restore(const std::string& snapshot) override;

  bool handed_over() const { return state_.handed_over(); }
  const v1::HandOver& hand_over() const { return state_.hand_over(); }
  std::uint64_t last_verify_nonce() const { return state_.last_verify_nonce(); }
  // Where each Orchestrator replica runs now (the hand-over's, then replacements), by number.
  const google::protobuf::RepeatedPtrField<v1::ReplicaSpec>& replicas() const {
    return state_.replicas();
  }
  std::uint32_t next_replica() const { return state_.next_replica(); }
  // Grows with every change to what the Directors must run.
  std::uint64_t desired_revision() const { return state_.desired_revision(); }
  std::uint64_t applied_commands() const { return applied_; }
  // Committed entries skipped because they were not a valid ClusterCommand. Anyone who reaches
  // a replica could have proposed one; every replica skips the same ones, in log order.
  std::uint64_t rejected_entries() const { return state_.rejected_entries(); }
  // Snapshots that did not parse; the state was reset to empty rather than guessed.
  std::uint64_t corrupt_snapshots() const { return corrupt_snapshots_; }

 private:
  void apply_hand_over(const v1::HandOver& hand_over);
  void apply_place_replica(const v1::ReplicaSpec& spec);
  void apply_retire_replica(std::uint32_t replica);

  v1::ClusterStateSnapshot state_;
  std::uint64_t applied_ = 0;
  std::uint64_t corrupt_snapshots_ = 0;
};

}  // namespace omni::orchestrator
