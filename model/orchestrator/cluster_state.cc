#include "model/orchestrator/cluster_state.h"

#include <algorithm>

#include "model/core/assert.h"

namespace omni::orchestrator {

namespace {

// What a committed entry must be before it may change the state. The log is input like any
// message: a replica that asserted here would fall over on every restart.
bool is_valid_command(const v1::ClusterCommand& command) {
  switch (command.body_case()) {
    case v1::ClusterCommand::kHandOver:
      return !command.hand_over().cluster_config().empty() &&
             !command.hand_over().directors().empty();
    case v1::ClusterCommand::kVerifyNonce:
      return true;
    case v1::ClusterCommand::kPlaceReplica:
      return !command.place_replica().vm().empty() &&
             !command.place_replica().container().name().empty() &&
             command.place_replica().container().replica() > 0;
    case v1::ClusterCommand::kRetireReplica:
      return command.retire_replica() > 0;
    default:
      return false;
  }
}

}  // namespace

void ClusterState::apply(const v1::RaftEntry& entry) {
  const std::uint64_t applied_before = applied_;
  ++applied_;
  v1::ClusterCommand command;
  if (!command.ParseFromString(entry.data()) || !is_valid_command(command)) {
    state_.set_rejected_entries(state_.rejected_entries() + 1);
    return;
  }
  switch (command.body_case()) {
    case v1::ClusterCommand::kHandOver:
      apply_hand_over(command.hand_over());
      break;
    case v1::ClusterCommand::kVerifyNonce:
      state_.set_last_verify_nonce(command.verify_nonce());
      break;
    case v1::ClusterCommand::kPlaceReplica:
      apply_place_replica(command.place_replica());
      break;
    case v1::ClusterCommand::kRetireReplica:
      apply_retire_replica(command.retire_replica());
      break;
    default:
      break;
  }
  OMNI_ASSERT(applied_ == applied_before + 1);
  OMNI_ASSERT(!state_.handed_over() || !state_.hand_over().cluster_config().empty());
}

// The first hand-over wins; a resumed root proposing it again changes nothing.
void ClusterState::apply_hand_over(const v1::HandOver& hand_over) {
  if (state_.handed_over()) return;
  state_.set_handed_over(true);
  *state_.mutable_hand_over() = hand_over;
  *state_.mutable_replicas() = hand_over.replicas();
  std::uint32_t highest = 0;
  for (const auto& r : hand_over.replicas()) highest = std::max(highest, r.container().replica());
  state_.set_next_replica(highest + 1);
  state_.set_desired_revision(state_.desired_revision() + 1);
  OMNI_ASSERT(state_.handed_over());
  OMNI_ASSERT(state_.next_replica() > highest);
}

// Only the replica numbered next_replica is placed: a leader that proposes a placement twice
// (its first answer was lost) places one replica, and two leaders cannot place two.
void ClusterState::apply_place_replica(const v1::ReplicaSpec& spec) {
  if (!state_.handed_over() || spec.container().replica() != state_.next_replica()) return;
  const std::uint32_t before = state_.next_replica();
  *state_.add_replicas() = spec;
  state_.set_next_replica(before + 1);
  state_.set_desired_revision(state_.desired_revision() + 1);
  OMNI_ASSERT(state_.next_replica() == before + 1);
  OMNI_ASSERT(state_.replicas_size() > 0);
}

void ClusterState::apply_retire_replica(std::uint32_t replica) {
  auto* replicas = state_.mutable_replicas();
  const int before = replicas->size();
  for (int i = 0; i < replicas->size(); ++i) {
    if (replicas->Get(i).container().replica() != replica) continue;
    replicas->DeleteSubrange(i, 1);
    state_.set_desired_revision(state_.desired_revision() + 1);
    break;
  }
  OMNI_ASSERT(replicas->size() >= before - 1 && replicas->size() <= before);
}

std::string ClusterState::snapshot() const {
  return state_.SerializeAsString();
}

void ClusterState::restore(const std::string& snapshot) {
  v1::ClusterStateSnapshot restored;
  if (!restored.ParseFromString(snapshot)) {
    ++corrupt_snapshots_;
    restored.Clear();
  }
  state_ = std::move(restored);
}

}  // namespace omni::orchestrator
