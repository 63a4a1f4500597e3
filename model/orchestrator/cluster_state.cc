#include "model/orchestrator/cluster_state.h"

#include "model/core/assert.h"

namespace omni::orchestrator {

void ClusterState::apply(const v1::RaftEntry& entry) {
  v1::ClusterCommand command;
  OMNI_ASSERT(command.ParseFromString(entry.data()), "only ClusterCommands are proposed");
  ++applied_;
  // The first hand-over wins; a resumed root proposing it again changes nothing.
  if (command.has_hand_over() && !state_.handed_over()) {
    state_.set_handed_over(true);
    *state_.mutable_hand_over() = command.hand_over();
  }
  if (command.body_case() == v1::ClusterCommand::kVerifyNonce)
    state_.set_last_verify_nonce(command.verify_nonce());
  OMNI_ASSERT(applied_ > 0);
}

std::string ClusterState::snapshot() const {
  return state_.SerializeAsString();
}

void ClusterState::restore(const std::string& snapshot) {
  v1::ClusterStateSnapshot restored;
  OMNI_ASSERT(restored.ParseFromString(snapshot), "a snapshot of ours parses");
  state_ = std::move(restored);
}

}  // namespace omni::orchestrator
