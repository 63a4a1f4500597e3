#pragma once
// N RaftNode replicas ("r1".."rN") and one client hosted in omni::sim::Simulation, with the
// Raft invariant checkers (checkers.h) and a fault schedule (schedule.h). One call runs one
// schedule: faults during `fault_window`, then everything heals (every replica up, network
// healed and lossless, clocks at rate 1, disk failures cleared) and the run must elect a leader
// and commit a proposal sent after the heal within `liveness_bound`.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/raft/raft_node.h"
#include "sim/simulation.h"
#include "tests/model/raft_props/schedule.h"

namespace omni::raft::props {

inline const Address kClient = "client";

// The replicated application: an append-only list of applied entries.
class ListMachine : public StateMachine {
 public:
  struct Applied {
    Index index = 0;
    Term term = 0;
    std::string data;
  };
  void apply(const v1::RaftEntry& entry) override;
  std::string snapshot() const override;
  void restore(const std::string& snapshot) override;
  const Applied* find(Index index) const;  // null when not applied here
  const std::vector<Applied>& applied() const { return applied_; }
  // Counts every restore (a snapshot installed from the leader, or read back at a restart).
  void count_restores_in(std::size_t* restores) { restores_ = restores; }

 private:
  std::vector<Applied> applied_;  // by increasing index
  std::size_t* restores_ = nullptr;
};

// What every checker shares: facts observed over the whole run, across restarts.
struct History {
  struct EntryId {
    Term term = 0;
    int type = 0;
    std::string data;
    bool operator==(const EntryId&) const = default;
  };
  struct Ack {
    Index index = 0;
    Term term = 0;
    std::string data;
    std::uint64_t request_id = 0;
  };
  std::map<Index, EntryId> committed;  // the first entry any replica applied at each index
  std::string apply_conflict;          // the first state machine safety breach, if any
  std::vector<NodeId> apply_conflict_nodes;
  std::vector<Ack> acks;                           // OK replies the client received
  std::uint64_t liveness_request_id = UINT64_MAX;  // requests from here on are sent after heal
  std::optional<Time> liveness_ack_at;             // the first OK for such a request
  bool proposals_stopped = false;     // set before the end checks, so followers catch up
  std::size_t recovering_starts = 0;  // restarts whose recovery dropped records (or still was)
  std::size_t snapshot_restores = 0;  // state machines rebuilt from a snapshot
  // Read-index reads: the client's reads answered OK, and the first that missed a write
  // acknowledged before the read was sent (its read index below that write's index).
  std::size_t reads = 0;
  std::string stale_read;
  std::size_t transfers = 0;  // leadership transfers the client asked for and a leader accepted
  std::size_t membership_changes = 0;  // learner additions, promotions and removals committed

  void on_apply(const NodeId& node, const v1::RaftEntry& entry);
};

// A replica process: a RaftNode and its ListMachine; the apply observer feeds the History.
class Replica : public Component {
 public:
  Replica(NodeId id, std::vector<NodeId> voters, RaftConfig config, Rng rng, History* history);
  void step(const Input& input, Outputs& out) override;
  const RaftNode& node() const { return node_; }
  const Raft& raft() const { return node_.raft(); }
  const ListMachine& machine() const { return machine_; }

 private:
  ListMachine machine_;
  RaftNode node_;
  History* history_;
};

// Every `period`, proposes "c<request id>" (most often), reads through read-index (one time in
// four, to a random replica) or asks for a leadership transfer to a random replica (one in
// twenty), sent to the replica it believes leads (a random one when it has no hint). With
// spares, one time in ten it takes the next step of a membership change instead: add the
// first spare as a learner, promote it, then remove a random one of the first voters, so the
// cluster keeps its size but changes its members under the schedule's faults; with `re_add`,
// it then adds the removed server back (its disk as it left it) and promotes it. Follows
// NOT_LEADER hints and records OK replies. At most `kInflightMax` requests are remembered; older
// ones are forgotten (their replies are then ignored).
class Client : public Component {
 public:
  static constexpr std::size_t kInflightMax = 64;
  Client(Rng rng, std::vector<NodeId> replicas, std::vector<NodeId> spares, Duration period,
         History* history, bool re_add = false);
  void step(const Input& input, Outputs& out) override;
  std::uint64_t next_request_id() const { return next_request_id_; }

 private:
  struct Request {
    v1::RaftClientRequestType type = v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE;
    std::string data;        // propose
    Index acked_before = 0;  // read: the highest index acknowledged when it was sent
    NodeId node;             // a membership step's server
    int step = 0;            // a membership step's place in the change
  };
  void send_request(Outputs& out);
  // The membership change's next request, or false when it is done or there is no spare.
  bool next_membership_step(Request& request, v1::RaftClientRequest& r);
  void on_reply(const v1::RaftClientReply& reply, Outputs& out);
  void on_ok(const v1::RaftClientReply& reply, const Request& request, Time now);

  Rng rng_;
  std::vector<NodeId> replicas_;  // every server, spares included
  std::vector<NodeId> voters_;    // the first voters, one of which the change removes
  NodeId spare_;                  // the server the change adds; empty: no change
  NodeId removed_;                // the voter the change removed
  // 0 add the spare, 1 promote it, 2 remove a voter; then 3 done, or with re_add 3 add the
  // removed voter back, 4 promote it, 5 done
  int membership_step_ = 0;
  int membership_steps_ = 3;
  Duration period_;
  History* history_;
  NodeId leader_hint_;
  std::uint64_t next_request_id_ = 1;
  std::map<std::uint64_t, Request> inflight_;  // by request id
  Index highest_acked_ = 0;
};

// The Raft paper's election timeout (150..300 ms) with a 50 ms heartbeat, not the product's
// 1..2 s and 100 ms: the schedules' fault windows and liveness bound are sized for it, and the
// more elections a schedule holds, the more it tests.
inline RaftConfig lan_timing() {
  RaftConfig config;
  config.election_timeout_min = std::chrono::milliseconds(150);
  config.election_timeout_max = std::chrono::milliseconds(300);
  config.heartbeat_interval = std::chrono::milliseconds(50);
  return config;
}

struct RaftSimOptions {
  std::size_t servers = 3;
  // Servers started outside the cluster (no initial voters) after the `servers`; the client
  // adds the first to the cluster and removes a voter (Client). Faults reach them too.
  std::size_t spares = 0;
  bool re_add_removed = false;  // the client then adds the removed voter back (Client)
  RaftConfig raft = lan_timing();
  sim::NetworkConfig network{};  // 1..5 ms latency, lossless (faults change it)
  Duration propose_period = std::chrono::milliseconds(20);
  Duration fault_window = std::chrono::seconds(2);
  Duration liveness_bound = std::chrono::seconds(5);
  Duration settle =
      std::chrono::milliseconds(500);  // after the liveness commit, before the end checks
  bool record_events = false;
  // The leader append-only checker runs before log matching and fires first on a leader that
  // rewrites its log; off, a test shows that log matching alone sees the rewrite too.
  bool check_leader_append_only = true;
};

struct RunResult {
  std::optional<sim::Violation> violation;
  std::uint64_t trace_hash = 0;
  std::uint64_t events = 0;
  std::size_t acks = 0;
  std::size_t recovering_starts = 0;            // restarts that came back recovering (data loss)
  std::size_t snapshot_restores = 0;            // state machines rebuilt from a snapshot
  std::size_t reads = 0;                        // read-index reads answered OK
  std::size_t transfers = 0;                    // leadership transfers a leader accepted
  std::size_t membership_changes = 0;           // additions, promotions, removals committed
  std::optional<Duration> liveness_after_heal;  // heal -> first OK of a request sent after it
  std::optional<Duration> leader_after_heal;    // heal -> a leader heard by a majority
};

inline std::size_t all_servers(const RaftSimOptions& options) {
  return options.servers + options.spares;
}

// Runs one schedule to the end (or the first violation).
RunResult run_schedule(const RaftSimOptions& options, const Schedule& schedule);

// Registers replicas, client and checkers on `sim`; `history` must outlive `sim`.
void add_cluster(sim::Simulation& sim, const RaftSimOptions& options, History* history);
// The replica's component, or null when it is down.
const Replica* replica_of(const sim::Simulation& sim, std::size_t index);

}  // namespace omni::raft::props
