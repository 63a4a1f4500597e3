#pragma once
// The Orchestrators' replicated state: what the root handed over (config, Directors), where
// the Orchestrator replicas run as replacements change it, and the resource store its clients
// read and write. Applied in log order by every replica; the same log gives the same state.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/proto/state.pb.h"
#include "model/raft/raft_node.h"

namespace omni::orchestrator {

inline constexpr std::size_t kMaxKeyBytes = 512;
inline constexpr std::size_t kMaxValueBytes = 64 * 1024;
inline constexpr std::size_t kMaxObjects = 100'000;
inline constexpr std::size_t kMaxListedObjects = 10'000;
// Orchestrator replicas are numbered 1, 2, ... as they are placed; a cluster replaces one a few
// times a year, so a number past this is not a real one.
inline constexpr std::uint32_t kMaxReplicaNumber = 1'000'000;
// The keys and values of the clients' objects together: a snapshot of the store travels as one
// message and is kept as one log record (node/: 80 and 64 MiB), and 100,000 values of 64 KiB
// would be 6.4 GB. A put past it is refused. The cluster's own objects (nodes, VMs, members) are
// not the clients' to fill and are never refused: the spec's limits bound them instead
// (kMaxClusterRecordBytes).
inline constexpr std::size_t kMaxStoreBytes = std::size_t{32} << 20;

// What a real plane can keep of the cluster's own records (its spec, kept with the hand-over, and
// the /nodes/ and /vms/ objects) beside the clients' kMaxStoreBytes, for a snapshot of the whole
// state to stay within one log record (node/: 64 MiB). The model takes any cluster its limits
// allow (the simulator runs 100,000 nodes); `omni init` refuses one whose records are larger.
inline constexpr std::size_t kMaxClusterRecordBytes = std::size_t{24} << 20;

// The cluster's own objects that a hand-over of `spec` writes, but for its members: each node's
// and each planned VM's (key, value).
std::vector<std::pair<std::string, std::string>> cluster_objects(const v1::ClusterSpec& spec);
// What the cluster's own records of `spec` take in a snapshot of the state: the spec, the
// Directors' addresses and cluster_objects(), as encoded there.
std::size_t cluster_record_bytes(const v1::ClusterSpec& spec);

// Why a key or a write is not acceptable, or empty. Checked where a request enters and again
// where a committed entry is applied: the log is input too.
std::string store_key_problem(const std::string& key);
std::string store_write_problem(const v1::StoreWrite& write, bool is_delete);

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
  // Where each app replica runs, sorted by (app, index).
  const google::protobuf::RepeatedPtrField<v1::AppPlacement>& app_placements() const {
    return state_.app_placements();
  }
  // Grows with every change to what the Directors must run.
  std::uint64_t desired_revision() const { return state_.desired_revision(); }
  std::uint64_t applied_commands() const { return applied_; }
  // Committed entries skipped because they were not a valid ClusterCommand. Anyone who reaches
  // a replica could have proposed one; every replica skips the same ones, in log order.
  std::uint64_t rejected_entries() const { return state_.rejected_entries(); }
  // Snapshots that did not parse; the state was reset to empty rather than guessed.
  std::uint64_t corrupt_snapshots() const { return corrupt_snapshots_; }

  // The resource store, as of the last applied entry.
  std::uint64_t store_revision() const { return state_.store_revision(); }
  const v1::StoreObject* find(const std::string& key) const;
  // Objects whose key starts with `prefix`, sorted by key, at most kMaxListedObjects.
  std::vector<v1::StoreObject> list(const std::string& prefix) const;
  // A page of them: keys after `start_after` (from the prefix's first when empty), at most
  // `limit` (0 or past kMaxListedObjects: kMaxListedObjects), and whether more follow.
  struct ListPage {
    std::vector<v1::StoreObject> objects;
    bool more = false;
  };
  ListPage list_page(const std::string& prefix, const std::string& start_after,
                     std::size_t limit) const;
  // Every object whose key starts with `prefix`, sorted by key, without a copy or a cap.
  void visit(const std::string& prefix,
             const std::function<void(const v1::StoreObject&)>& each) const;
  std::size_t object_count() const { return objects_.size(); }
  std::size_t client_object_count() const { return client_objects_; }
  // The outcome of the store write committed at log `index`, for the replica that proposed it.
  // The last kMaxResults outcomes are kept; taking one forgets it.
  std::optional<v1::StoreReply> take_result(std::uint64_t index);
  static constexpr std::size_t kMaxResults = 4096;

 private:
  void apply_hand_over(const v1::HandOver& hand_over);
  void apply_place_replica(const v1::ReplicaSpec& spec);
  void apply_retire_replica(std::uint32_t replica);
  v1::StoreReply apply_store(const v1::StoreCommand& command);
  void apply_app_placements(const v1::AppPlacements& placements);
  // The cluster's own objects, written by the log alone, whatever the clients stored.
  void put_object(const std::string& key, const std::string& value);
  void delete_object(const std::string& key);
  // Both kinds of write, once allowed: the object and the counts of the clients' objects.
  v1::StoreObject& store_object(const std::string& key, const std::string& value);
  void erase_object(std::map<std::string, v1::StoreObject>::iterator it);
  void put_cluster_objects(const v1::HandOver& hand_over);
  void keep_result(std::uint64_t index, v1::StoreReply reply);
  static std::size_t bytes_of(const v1::StoreObject& object);
  std::size_t client_bytes_after(const v1::StoreWrite& write,
                                 std::map<std::string, v1::StoreObject>::const_iterator it) const;
  void count_client_objects();

  v1::ClusterStateSnapshot state_;  // everything but the objects
  std::map<std::string, v1::StoreObject> objects_;
  std::size_t client_objects_ = 0;                   // objects_ that are not the cluster's own
  std::size_t client_bytes_ = 0;                     // their keys and values
  std::map<std::uint64_t, v1::StoreReply> results_;  // by log index, the newest kMaxResults
  std::uint64_t applied_ = 0;
  std::uint64_t corrupt_snapshots_ = 0;
};

}  // namespace omni::orchestrator
