#include "model/orchestrator/cluster_state.h"

#include <algorithm>
#include <set>

#include "model/config/resource_limits.h"
#include "model/core/assert.h"
#include "model/director/director.h"
#include "model/orchestrator/apps.h"
#include "model/orchestrator/cluster_spec.h"
#include "model/root/plan.h"

namespace omni::orchestrator {

namespace {

// What a committed entry must be before it may change the state. The log is input like any
// message: a replica that asserted here would fall over on every restart.
// An Orchestrator replica as the plan places it: numbered (below any number the next one could
// wrap), on a VM, with amounts the scheduler's sums can hold (none negative: the scheduler's
// fits() asserts it) and an Agent takes (none zero: a runtime reads a limit of 0 as none).
bool is_valid_replica(const v1::ReplicaSpec& r) {
  const auto& c = r.container();
  const auto within = [](std::int64_t amount, std::int64_t limit) {
    return amount > 0 && amount <= limit;
  };
  return c.replica() > 0 && c.replica() <= kMaxReplicaNumber && !r.vm().empty() &&
         !c.name().empty() && within(c.resources().cpu_millis(), config::kMaxCpuMillis) &&
         within(c.resources().memory_bytes(), config::kMaxMemoryBytes);
}

// Each Director once, each replica number once: a Director twice tripped begin_term()'s
// assertion in every new leader, and replica 2^32-1 wrapped next_replica to zero.
bool is_valid_hand_over(const v1::HandOver& h) {
  if (cluster_spec_problem(h.cluster()) || h.directors().empty() ||
      h.directors_size() > h.cluster().nodes_size())
    return false;
  std::set<std::string> directors(h.directors().begin(), h.directors().end());
  // Each Director is a node's of the spec: the leader takes control of, and recreates the VM of,
  // the Directors named here, and one of no node had no VM to recreate.
  std::set<std::string> nodes_directors;
  for (const auto& node : h.cluster().nodes())
    nodes_directors.insert(director::director_address(node.name()));
  if (!std::includes(nodes_directors.begin(), nodes_directors.end(), directors.begin(),
                     directors.end()))
    return false;
  std::set<std::uint32_t> numbers;
  for (const auto& r : h.replicas())
    if (!is_valid_replica(r) || !numbers.insert(r.container().replica()).second) return false;
  OMNI_ASSERT(numbers.size() == static_cast<std::size_t>(h.replicas_size()));
  return directors.size() == static_cast<std::size_t>(h.directors_size());
}

bool is_valid_placement(const v1::AppPlacement& p) {
  return !p.app().empty() && p.index() != 0 && !p.vm().empty();
}

// Revisions grow by one a write: far below this in any real store, and never wrapping after it.
constexpr std::uint64_t kMaxRevision = std::uint64_t{1} << 62;

// A snapshot holds what the log's entries could have made, checked as they are at apply: a
// replica that took another (a leader's bug, a damaged disk) asserted later, at an ordinary
// write or when it came to lead (a Director twice, replica 0, a negative amount, a created
// revision past the object's, a store revision that wrapped).
bool is_sound_snapshot(const v1::ClusterStateSnapshot& s) {
  if (s.store_revision() > kMaxRevision || s.desired_revision() > kMaxRevision) return false;
  if (s.handed_over() != is_valid_hand_over(s.hand_over())) return false;
  std::set<std::uint32_t> numbers;
  for (const auto& r : s.replicas())
    if (!is_valid_replica(r) || !numbers.insert(r.container().replica()).second) return false;
  // The next number is past every replica's: the leader names a replacement after it.
  const bool numbered =
      s.next_replica() >= 1 && (numbers.empty() || *numbers.rbegin() < s.next_replica());
  if (s.handed_over() && (!numbered || s.next_replica() > kMaxReplicaNumber + 1)) return false;
  if (!s.handed_over() && !s.replicas().empty()) return false;
  for (const auto& object : s.objects())
    if (object.created_revision() > object.revision()) return false;
  for (const auto& p : s.app_placements())
    if (!is_valid_placement(p)) return false;
  OMNI_ASSERT(numbers.size() == static_cast<std::size_t>(s.replicas_size()));
  return true;
}

bool is_valid_command(const v1::ClusterCommand& command) {
  switch (command.body_case()) {
    case v1::ClusterCommand::kHandOver:
      return is_valid_hand_over(command.hand_over());
    case v1::ClusterCommand::kVerifyNonce:
      return true;
    case v1::ClusterCommand::kPlaceReplica:
      return is_valid_replica(command.place_replica());
    case v1::ClusterCommand::kRetireReplica:
      return command.retire_replica() > 0;
    case v1::ClusterCommand::kStore:  // the cluster's own objects are written by the log alone
      return store_write_problem(command.store().write(), command.store().is_delete()).empty() &&
             !is_cluster_owned(command.store().write().key());
    case v1::ClusterCommand::kAppPlacements:
      if (static_cast<std::size_t>(command.app_placements().place_size()) > kMaxAppPlacements ||
          static_cast<std::size_t>(command.app_placements().unplace_size()) > kMaxAppPlacements)
        return false;
      for (const auto& list :
           {command.app_placements().unplace(), command.app_placements().place()})
        for (const auto& p : list)
          if (!is_valid_placement(p)) return false;
      return true;
    default:
      return false;
  }
}

}  // namespace

std::vector<std::pair<std::string, std::string>> cluster_objects(const v1::ClusterSpec& spec) {
  std::vector<std::pair<std::string, std::string>> objects;
  for (const auto& node : spec.nodes())
    objects.emplace_back(node_key(node.name()), node.SerializeAsString());
  const auto plan = root::make_plan(to_cluster_config(spec));
  if (const auto* planned = std::get_if<root::Plan>(&plan))
    for (const auto& vm : planned->vms) {
      v1::VmObject object;
      object.set_name(vm.name);
      object.set_node(vm.node);
      object.set_role(vm.role == root::VmRole::director ? "director" : "worker");
      *object.mutable_resources() = to_proto(vm.resources);
      objects.emplace_back(vm_key(vm.name), object.SerializeAsString());
    }
  OMNI_ASSERT(objects.size() >= static_cast<std::size_t>(spec.nodes_size()));
  OMNI_ASSERT(std::all_of(objects.begin(), objects.end(),
                          [](const auto& object) { return is_cluster_owned(object.first); }));
  return objects;
}

std::size_t cluster_record_bytes(const v1::ClusterSpec& spec) {
  // As the snapshot holds them: the spec and each Director's address in the hand-over, and each
  // object with its key twice (the map's and its own), two revisions and the fields' tags.
  constexpr std::size_t kAddressFramingBytes = 2;
  constexpr std::size_t kObjectFramingBytes = 32;
  std::size_t bytes = spec.ByteSizeLong();
  for (const auto& node : spec.nodes())
    bytes += director::director_address(node.name()).size() + kAddressFramingBytes;
  for (const auto& [key, value] : cluster_objects(spec))
    bytes += 2 * key.size() + value.size() + kObjectFramingBytes;
  OMNI_ASSERT(bytes >= spec.ByteSizeLong());
  OMNI_ASSERT(bytes > static_cast<std::size_t>(spec.nodes_size()) * kAddressFramingBytes);
  return bytes;
}

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
  for (const auto& app : hand_over.apps()) {
    if (!store_key_problem(app_key(app.name())).empty() || find(app_key(app.name()))) continue;
    v1::StoreCommand put;  // the clients' object it is, within their limits
    put.mutable_write()->set_key(app_key(app.name()));
    put.mutable_write()->set_value(app.SerializeAsString());
    apply_store(put);
  }
  put_cluster_objects(hand_over);
  state_.set_desired_revision(state_.desired_revision() + 1);
  OMNI_ASSERT(state_.handed_over());
  OMNI_ASSERT(state_.next_replica() > highest);
}

// What the cluster is made of, readable through the store like the apps: /nodes/NAME (NodeSpec),
// /vms/NAME (VmObject, the root's plan) and /members/N (ReplicaSpec). Only the log writes them.
void ClusterState::put_cluster_objects(const v1::HandOver& hand_over) {
  const v1::ClusterSpec& spec = hand_over.cluster();
  for (const auto& [key, value] : cluster_objects(spec)) put_object(key, value);
  for (const auto& r : hand_over.replicas())
    put_object(member_key(r.container().replica()), r.SerializeAsString());
  OMNI_ASSERT(find(node_key(spec.nodes(0).name())) != nullptr);
  OMNI_ASSERT(state_.store_revision() > 0);
}

void ClusterState::put_object(const std::string& key, const std::string& value) {
  OMNI_ASSERT(is_cluster_owned(key), "clients' objects go through apply_store and its limits");
  const std::size_t client_objects_before = client_objects_;
  store_object(key, value);
  OMNI_ASSERT(client_objects_ == client_objects_before);
}

void ClusterState::delete_object(const std::string& key) {
  OMNI_ASSERT(is_cluster_owned(key), "clients' objects go through apply_store");
  const auto it = objects_.find(key);
  if (it == objects_.end()) return;
  state_.set_store_revision(state_.store_revision() + 1);
  erase_object(it);
  OMNI_ASSERT(!objects_.count(key));
}

// Stores `value` under `key` at the next store revision, counting the clients' objects.
v1::StoreObject& ClusterState::store_object(const std::string& key, const std::string& value) {
  const std::uint64_t revision = state_.store_revision() + 1;
  state_.set_store_revision(revision);
  if (key.rfind(kAppPrefix, 0) == 0)  // an app's spec is what its containers run
    state_.set_desired_revision(state_.desired_revision() + 1);
  const auto [it, created] = objects_.try_emplace(key);
  v1::StoreObject& object = it->second;
  if (!is_cluster_owned(key)) {
    client_bytes_ = client_bytes_ - bytes_of(object) + key.size() + value.size();
    if (created) ++client_objects_;
  }
  if (created) object.set_created_revision(revision);
  object.set_key(key);
  object.set_value(value);
  object.set_revision(revision);
  OMNI_ASSERT(object.created_revision() <= object.revision());
  OMNI_ASSERT(client_objects_ <= objects_.size());
  return object;
}

void ClusterState::erase_object(std::map<std::string, v1::StoreObject>::iterator it) {
  OMNI_ASSERT(it != objects_.end());
  if (it->first.rfind(kAppPrefix, 0) == 0)
    state_.set_desired_revision(state_.desired_revision() + 1);
  if (!is_cluster_owned(it->first)) {
    OMNI_ASSERT(client_objects_ > 0 && client_bytes_ >= bytes_of(it->second));
    --client_objects_;
    client_bytes_ -= bytes_of(it->second);
  }
  objects_.erase(it);
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

// A client's write applies only when its condition holds and the clients' objects stay within
// their limits; an unconditional delete of nothing is not_found. Every write that changes the
// store takes the next store revision.
v1::StoreReply ClusterState::apply_store(const v1::StoreCommand& command) {
  const v1::StoreWrite& write = command.write();
  OMNI_ASSERT(!is_cluster_owned(write.key()), "the log's store commands are validated first");
  const std::uint64_t before = state_.store_revision();
  const std::size_t client_objects_before = client_objects_;
  v1::StoreReply reply;
  const auto it = objects_.find(write.key());
  const std::uint64_t current = it == objects_.end() ? 0 : it->second.revision();
  if (write.conditional() && write.expected_revision() != current) {
    reply.set_status(v1::STORE_STATUS_CONFLICT);
    reply.set_error("the revision of " + write.key() + " is " + std::to_string(current) + ", not " +
                    std::to_string(write.expected_revision()));
  } else if (command.is_delete() && it == objects_.end()) {
    reply.set_status(v1::STORE_STATUS_NOT_FOUND);
  } else if (!command.is_delete() && it == objects_.end() && client_objects_ >= kMaxObjects) {
    reply.set_status(v1::STORE_STATUS_INVALID);
    reply.set_error("the store holds its most objects, " + std::to_string(kMaxObjects));
  } else if (!command.is_delete() && client_bytes_after(write, it) > kMaxStoreBytes) {
    reply.set_status(v1::STORE_STATUS_INVALID);
    reply.set_error("the store holds its most bytes, " + std::to_string(kMaxStoreBytes >> 20) +
                    " MiB of keys and values; delete something first");
  } else if (command.is_delete()) {
    reply.set_status(v1::STORE_STATUS_OK);
    state_.set_store_revision(before + 1);
    erase_object(it);
  } else {
    reply.set_status(v1::STORE_STATUS_OK);
    *reply.add_objects() = store_object(write.key(), write.value());
  }
  reply.set_revision(state_.store_revision());
  OMNI_ASSERT(state_.store_revision() - before <= 1);
  // A snapshot from a build with larger limits may hold more; a write never adds past them.
  OMNI_ASSERT(client_objects_ <= std::max(kMaxObjects, client_objects_before));
  OMNI_ASSERT(client_bytes_ <= kMaxStoreBytes || reply.status() != v1::STORE_STATUS_OK ||
              command.is_delete());
  return reply;
}

std::size_t ClusterState::bytes_of(const v1::StoreObject& object) {
  return object.key().size() + object.value().size();
}

// The clients' bytes once `write` (a put of a client's object) replaces what `it` holds, if
// anything.
std::size_t ClusterState::client_bytes_after(
    const v1::StoreWrite& write, std::map<std::string, v1::StoreObject>::const_iterator it) const {
  const std::size_t replaced = it == objects_.end() ? 0 : bytes_of(it->second);
  OMNI_ASSERT(replaced <= client_bytes_);
  return client_bytes_ - replaced + write.key().size() + write.value().size();
}

// Counted, not checked: a snapshot from a build with larger limits is still the state.
void ClusterState::count_client_objects() {
  client_objects_ = 0;
  client_bytes_ = 0;
  for (const auto& [key, object] : objects_) {
    if (is_cluster_owned(key)) continue;
    ++client_objects_;
    client_bytes_ += bytes_of(object);
  }
  OMNI_ASSERT(client_objects_ <= objects_.size());
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
  return list_page(prefix, "", kMaxListedObjects).objects;
}

ClusterState::ListPage ClusterState::list_page(const std::string& prefix,
                                               const std::string& start_after,
                                               std::size_t limit) const {
  if (limit == 0 || limit > kMaxListedObjects) limit = kMaxListedObjects;
  const auto under_prefix = [&prefix](const std::string& key) {
    return key.compare(0, prefix.size(), prefix) == 0;
  };
  auto it = start_after < prefix ? objects_.lower_bound(prefix) : objects_.upper_bound(start_after);
  ListPage page;
  for (; it != objects_.end() && under_prefix(it->first) && page.objects.size() < limit; ++it)
    page.objects.push_back(it->second);
  page.more = it != objects_.end() && under_prefix(it->first);
  OMNI_ASSERT(page.objects.size() <= limit);
  OMNI_ASSERT(page.objects.empty() || page.objects.front().key() > start_after);
  return page;
}

void ClusterState::visit(const std::string& prefix,
                         const std::function<void(const v1::StoreObject&)>& each) const {
  for (auto it = objects_.lower_bound(prefix);
       it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    each(it->second);
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
  bool sound = restored.ParseFromString(snapshot) && is_sound_snapshot(restored);
  for (const auto& object : restored.objects()) {
    sound = sound && store_key_problem(object.key()).empty() &&
            object.revision() <= restored.store_revision() && !objects.count(object.key());
    objects[object.key()] = object;
  }
  if (!sound) {
    ++corrupt_snapshots_;
    restored.Clear();
    objects.clear();
  }
  restored.clear_objects();
  state_ = std::move(restored);
  objects_ = std::move(objects);
  count_client_objects();
  results_.clear();
}

}  // namespace omni::orchestrator
