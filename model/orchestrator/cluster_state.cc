#include "model/orchestrator/cluster_state.h"

#include <algorithm>

#include "model/core/assert.h"
#include "model/orchestrator/apps.h"
#include "model/orchestrator/cluster_spec.h"
#include "model/root/plan.h"

namespace omni::orchestrator {

namespace {

// What a committed entry must be before it may change the state. The log is input like any
// message: a replica that asserted here would fall over on every restart.
bool is_valid_command(const v1::ClusterCommand& command) {
  switch (command.body_case()) {
    case v1::ClusterCommand::kHandOver:
      return !cluster_spec_problem(command.hand_over().cluster()) &&
             !command.hand_over().directors().empty();
    case v1::ClusterCommand::kVerifyNonce:
      return true;
    case v1::ClusterCommand::kPlaceReplica:
      return !command.place_replica().vm().empty() &&
             !command.place_replica().container().name().empty() &&
             command.place_replica().container().replica() > 0;
    case v1::ClusterCommand::kRetireReplica:
      return command.retire_replica() > 0;
    case v1::ClusterCommand::kStore:
      return store_write_problem(command.store().write(), command.store().is_delete()).empty();
    case v1::ClusterCommand::kAppPlacements:
      if (static_cast<std::size_t>(command.app_placements().place_size()) > kMaxAppPlacements ||
          static_cast<std::size_t>(command.app_placements().unplace_size()) > kMaxAppPlacements)
        return false;
      for (const auto& list :
           {command.app_placements().unplace(), command.app_placements().place()})
        for (const auto& p : list)
          if (p.app().empty() || p.index() == 0 || p.vm().empty()) return false;
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string store_key_problem(const std::string& key) {
  if (key.empty() || key.front() != '/') return "a key starts with '/'";
  if (key.size() > kMaxKeyBytes)
    return "a key is at most " + std::to_string(kMaxKeyBytes) + " bytes";
  for (const unsigned char c : key)
    if (c < 0x21 || c > 0x7e) return "a key is printable ASCII without spaces";
  return {};
}

std::string store_write_problem(const v1::StoreWrite& write, bool is_delete) {
  if (auto problem = store_key_problem(write.key()); !problem.empty()) return problem;
  if (write.value().size() > kMaxValueBytes)
    return "a value is at most " + std::to_string(kMaxValueBytes) + " bytes";
  if (is_delete && !write.value().empty()) return "a delete carries no value";
  if (!write.conditional() && write.expected_revision() != 0)
    return "expected_revision goes with conditional";
  return {};
}

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
    case v1::ClusterCommand::kStore:
      keep_result(entry.index(), apply_store(command.store()));
      break;
    case v1::ClusterCommand::kAppPlacements:
      apply_app_placements(command.app_placements());
      break;
    default:
      break;
  }
  OMNI_ASSERT(applied_ == applied_before + 1);
  OMNI_ASSERT(!state_.handed_over() || state_.hand_over().has_cluster());
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
  for (const auto& app : hand_over.apps())
    if (store_key_problem(app_key(app.name())).empty() && !find(app_key(app.name())))
      put_object(app_key(app.name()), app.SerializeAsString());
  put_cluster_objects(hand_over);
  state_.set_desired_revision(state_.desired_revision() + 1);
  OMNI_ASSERT(state_.handed_over());
  OMNI_ASSERT(state_.next_replica() > highest);
}

// What the cluster is made of, readable through the store like the apps: /nodes/NAME (NodeSpec),
// /vms/NAME (VmObject, the root's plan) and /members/N (ReplicaSpec). Only the log writes them.
void ClusterState::put_cluster_objects(const v1::HandOver& hand_over) {
  const v1::ClusterSpec& spec = hand_over.cluster();
  for (const auto& node : spec.nodes()) put_object(node_key(node.name()), node.SerializeAsString());
  const auto plan = root::make_plan(to_cluster_config(spec));
  if (const auto* planned = std::get_if<root::Plan>(&plan))
    for (const auto& vm : planned->vms) {
      v1::VmObject object;
      object.set_name(vm.name);
      object.set_node(vm.node);
      object.set_role(vm.role == root::VmRole::director ? "director" : "worker");
      *object.mutable_resources() = to_proto(vm.resources);
      put_object(vm_key(vm.name), object.SerializeAsString());
    }
  for (const auto& r : hand_over.replicas())
    put_object(member_key(r.container().replica()), r.SerializeAsString());
  OMNI_ASSERT(find(node_key(spec.nodes(0).name())) != nullptr);
  OMNI_ASSERT(state_.store_revision() > 0);
}

void ClusterState::put_object(const std::string& key, const std::string& value) {
  v1::StoreCommand command;
  command.mutable_write()->set_key(key);
  command.mutable_write()->set_value(value);
  apply_store(command);
}

void ClusterState::delete_object(const std::string& key) {
  v1::StoreCommand command;
  command.mutable_write()->set_key(key);
  command.set_is_delete(true);
  apply_store(command);
}

// Unplacing first, then placing into free slots only: the same decision applied twice, or two
// leaders' decisions, never put one slot on two VMs.
void ClusterState::apply_app_placements(const v1::AppPlacements& placements) {
  std::map<std::pair<std::string, std::uint32_t>, v1::AppPlacement> slots;
  for (const auto& p : state_.app_placements()) slots[{p.app(), p.index()}] = p;
  const std::size_t before = slots.size();
  for (const auto& p : placements.unplace()) slots.erase({p.app(), p.index()});
  for (const auto& p : placements.place()) slots.emplace(std::make_pair(p.app(), p.index()), p);
  state_.clear_app_placements();
  for (auto& [slot, p] : slots) *state_.add_app_placements() = std::move(p);
  state_.set_desired_revision(state_.desired_revision() + 1);
  OMNI_ASSERT(static_cast<std::size_t>(state_.app_placements_size()) == slots.size());
  OMNI_ASSERT(slots.size() <= before + static_cast<std::size_t>(placements.place_size()));
}

// Only the replica numbered next_replica is placed: a leader that proposes a placement twice
// (its first answer was lost) places one replica, and two leaders cannot place two.
void ClusterState::apply_place_replica(const v1::ReplicaSpec& spec) {
  if (!state_.handed_over() || spec.container().replica() != state_.next_replica()) return;
  const std::uint32_t before = state_.next_replica();
  *state_.add_replicas() = spec;
  put_object(member_key(spec.container().replica()), spec.SerializeAsString());
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
    delete_object(member_key(replica));
    state_.set_desired_revision(state_.desired_revision() + 1);
    break;
  }
  OMNI_ASSERT(replicas->size() >= before - 1 && replicas->size() <= before);
}

// A write applies only when its condition holds; an unconditional delete of nothing is
// not_found. Every write that changes the store takes the next store revision.
v1::StoreReply ClusterState::apply_store(const v1::StoreCommand& command) {
  const v1::StoreWrite& write = command.write();
  const std::uint64_t before = state_.store_revision();
  v1::StoreReply reply;
  const auto it = objects_.find(write.key());
  const std::uint64_t current = it == objects_.end() ? 0 : it->second.revision();
  if (write.conditional() && write.expected_revision() != current) {
    reply.set_status(v1::STORE_STATUS_CONFLICT);
    reply.set_error("the revision of " + write.key() + " is " + std::to_string(current) + ", not " +
                    std::to_string(write.expected_revision()));
  } else if (command.is_delete() && it == objects_.end()) {
    reply.set_status(v1::STORE_STATUS_NOT_FOUND);
  } else if (!command.is_delete() && it == objects_.end() && objects_.size() >= kMaxObjects) {
    reply.set_status(v1::STORE_STATUS_INVALID);
    reply.set_error("the store holds its most objects, " + std::to_string(kMaxObjects));
  } else if (!command.is_delete() && store_bytes_after(write, it) > kMaxStoreBytes) {
    reply.set_status(v1::STORE_STATUS_INVALID);
    reply.set_error("the store holds its most bytes, " + std::to_string(kMaxStoreBytes >> 20) +
                    " MiB of keys and values; delete something first");
  } else {
    state_.set_store_revision(before + 1);
    reply.set_status(v1::STORE_STATUS_OK);
    if (write.key().rfind(kAppPrefix, 0) == 0)  // an app's spec is what its containers run
      state_.set_desired_revision(state_.desired_revision() + 1);
    if (command.is_delete()) {
      store_bytes_ -= bytes_of(it->second);
      objects_.erase(it);
    } else {
      store_bytes_ = store_bytes_after(write, it);
      v1::StoreObject& object = objects_[write.key()];
      if (object.created_revision() == 0) object.set_created_revision(before + 1);
      object.set_key(write.key());
      object.set_value(write.value());
      object.set_revision(before + 1);
      *reply.add_objects() = object;
    }
  }
  reply.set_revision(state_.store_revision());
  OMNI_ASSERT(state_.store_revision() - before <= 1);
  OMNI_ASSERT(objects_.size() <= kMaxObjects);
  OMNI_ASSERT(store_bytes_ <= kMaxStoreBytes || reply.status() != v1::STORE_STATUS_OK ||
              command.is_delete());
  return reply;
}

std::size_t ClusterState::bytes_of(const v1::StoreObject& object) {
  return object.key().size() + object.value().size();
}

// The store's bytes once `write` (a put) replaces what `it` holds, if anything.
std::size_t ClusterState::store_bytes_after(
    const v1::StoreWrite& write, std::map<std::string, v1::StoreObject>::const_iterator it) const {
  const std::size_t replaced = it == objects_.end() ? 0 : bytes_of(it->second);
  OMNI_ASSERT(replaced <= store_bytes_);
  return store_bytes_ - replaced + write.key().size() + write.value().size();
}

void ClusterState::keep_result(std::uint64_t index, v1::StoreReply reply) {
  results_[index] = std::move(reply);
  while (results_.size() > kMaxResults) results_.erase(results_.begin());
  OMNI_ASSERT(results_.size() <= kMaxResults);
}

std::optional<v1::StoreReply> ClusterState::take_result(std::uint64_t index) {
  const auto it = results_.find(index);
  if (it == results_.end()) return std::nullopt;
  v1::StoreReply reply = std::move(it->second);
  results_.erase(it);
  return reply;
}

const v1::StoreObject* ClusterState::find(const std::string& key) const {
  const auto it = objects_.find(key);
  return it == objects_.end() ? nullptr : &it->second;
}

std::vector<v1::StoreObject> ClusterState::list(const std::string& prefix) const {
  std::vector<v1::StoreObject> out;
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0 &&
       out.size() < kMaxListedObjects;
       ++it)
    out.push_back(it->second);
  return out;
}

std::string ClusterState::snapshot() const {
  v1::ClusterStateSnapshot whole = state_;
  for (const auto& [key, object] : objects_) *whole.add_objects() = object;
  return whole.SerializeAsString();
}

// A snapshot is input like any message: one that does not parse, or whose objects are not
// what the store could hold, resets the state rather than be guessed at.
void ClusterState::restore(const std::string& snapshot) {
  v1::ClusterStateSnapshot restored;
  std::map<std::string, v1::StoreObject> objects;
  bool sound = restored.ParseFromString(snapshot);
  for (const auto& object : restored.objects()) {
    sound = sound && store_key_problem(object.key()).empty() &&
            object.revision() <= restored.store_revision() && !objects.count(object.key());
    objects[object.key()] = object;
  }
  sound =
      sound && (!restored.handed_over() || !cluster_spec_problem(restored.hand_over().cluster()));
  if (!sound) {
    ++corrupt_snapshots_;
    restored.Clear();
    objects.clear();
  }
  restored.clear_objects();
  state_ = std::move(restored);
  objects_ = std::move(objects);
  // Counted, not checked: a snapshot from a build with a larger limit is still the state.
  store_bytes_ = 0;
  for (const auto& [key, object] : objects_) store_bytes_ += bytes_of(object);
  results_.clear();
}

}  // namespace omni::orchestrator
