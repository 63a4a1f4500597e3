#include "model/orchestrator/cluster_state.h"

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
  // The first hand-over wins; a resumed root proposing it again changes nothing.
  if (command.has_hand_over() && !state_.handed_over()) {
    state_.set_handed_over(true);
    *state_.mutable_hand_over() = command.hand_over();
  }
  if (command.body_case() == v1::ClusterCommand::kVerifyNonce)
    state_.set_last_verify_nonce(command.verify_nonce());
  OMNI_ASSERT(applied_ == applied_before + 1);
  OMNI_ASSERT(!state_.handed_over() || !state_.hand_over().cluster_config().empty());
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
