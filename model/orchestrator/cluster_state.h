#pragma once
// The Orchestrators' replicated state: what the root handed over (config, Directors, replica
// placements). Applied in log order by every replica; the same log gives the same state.
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
  std::uint64_t applied_commands() const { return applied_; }
  // Committed entries skipped because they were not a valid ClusterCommand. Anyone who reaches
  // a replica could have proposed one; every replica skips the same ones, in log order.
  std::uint64_t rejected_entries() const { return state_.rejected_entries(); }
  // Snapshots that did not parse; the state was reset to empty rather than guessed.
  std::uint64_t corrupt_snapshots() const { return corrupt_snapshots_; }

 private:
  v1::ClusterStateSnapshot state_;
  std::uint64_t applied_ = 0;
  std::uint64_t corrupt_snapshots_ = 0;
};

}  // namespace omni::orchestrator
