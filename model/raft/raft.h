#pragma once
// Raft as a pure state machine, in the spirit of etcd/raft's raft.go: no IO, no clock, no
// randomness except the injected Rng. Every call appends Outputs (Persist, then Send, then
// WakeAt) to the caller's vector; a Persist always precedes any Send that depends on it.
// See docs/raft.md.
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/core/rng.h"
#include "model/core/step.h"
#include "model/proto/raft.pb.h"
#include "model/raft/log.h"
#include "model/raft/progress.h"
#include "model/raft/quorum.h"
#include "model/raft/types.h"

namespace omni::raft {

struct RaftConfig {
  // etcd's defaults, not the Raft paper's 150..300 ms and 50 ms: a replica in a container in a VM
  // can stall for over 150 ms (an fsync, a CPU quota's throttling, steal time), and ten
  // heartbeats in a check-quorum window keep a leader through loss that three did not
  // (docs/raft.md, "Timing").
  Duration election_timeout_min = std::chrono::milliseconds(1000);
  Duration election_timeout_max = std::chrono::milliseconds(2000);
  Duration heartbeat_interval = std::chrono::milliseconds(100);
  bool pre_vote = true;
  bool check_quorum = true;  // a leader steps down when it has not heard a quorum in time
  std::size_t max_entries_per_append = 64;
  std::size_t max_bytes_per_append = 1 << 20;
  std::size_t max_inflight_appends = 4;  // per peer
  std::size_t max_uncommitted_entries = 1024;
  std::size_t max_pending_reads = 256;
  // RaftNode: compact once this many applied entries follow the snapshot.
  std::size_t compact_after_entries = 1024;
  std::size_t max_pending_client_requests = 1024;
  std::size_t max_apply_batch = 256;

  // TEST ONLY. Grants a vote to every up-to-date candidate, even after voting in the same term,
  // so a test can build a deliberately unsafe Raft that the simulator's checkers must catch.
  bool testing_grant_multiple_votes_per_term = false;
  // TEST ONLY. A leader puts each new proposal in place of its last entry when that entry is of
  // its term and not committed: the same index and term now name other data, and the leader's
  // log is no longer append-only. The Raft property checkers must catch both.
  bool testing_leader_overwrites_its_last_entry = false;
  // TEST ONLY. A leader answers read-index requests without waiting for a quorum to confirm its
  // heartbeat round: a deposed leader serves reads from a stale commit index.
  bool testing_read_index_without_quorum = false;
};

enum class RequestStatus { ok, not_leader, rejected };

struct RequestResult {
  RequestStatus status = RequestStatus::ok;
  Index index = 0;  // propose / conf change: the entry's index
  Term term = 0;    // propose / conf change: the entry's term
  std::string error;
};

// A read-index request that has been decided: once applied >= index, a read is linearizable.
struct ReadState {
  std::uint64_t context = 0;
  Index index = 0;
  bool ok = false;  // false: leadership was lost before the read was confirmed
};

class Raft {
 public:
  // `initial_voters` bootstraps a new cluster (identically on every initial member); a server
  // that joins an existing cluster later passes none and waits for the leader to contact it.
  Raft(NodeId id, std::vector<NodeId> initial_voters, RaftConfig config, Rng rng);
  // Not copyable: voter_progress_ points into progress_. A move keeps the map's nodes, and the
  // pointers with them.
  Raft(const Raft&) = delete;
  Raft& operator=(const Raft&) = delete;
  Raft(Raft&&) = default;
  Raft& operator=(Raft&&) = default;

  // Inputs. Each appends its outputs to `out`. `now` may arrive late or skewed; time never
  // goes backwards inside Raft (earlier values are ignored).
  void start(Time now, const std::vector<std::string>& persisted, Outputs& out);
  void tick(Time now, Outputs& out);
  void step(Time now, const NodeId& from, const v1::RaftMessage& message, Outputs& out);
  RequestResult propose(Time now, std::string data, Outputs& out);
  RequestResult propose_conf_change(Time now, v1::RaftClientRequestType kind, const NodeId& node,
                                    Outputs& out);
  RequestResult read_index(Time now, std::uint64_t context, Outputs& out);
  RequestResult transfer_leadership(Time now, const NodeId& target, Outputs& out);

  // The application side (RaftNode).
  // How many entries from applied + 1 to apply now (of (applied, commit], bounded): read them
  // from log() in place, before anything else steps this Raft.
  std::size_t entries_to_apply() const;
  void mark_applied(Index index, Outputs& out);  // applies configuration entries
  std::optional<v1::RaftSnapshot> take_snapshot_to_restore();
  std::vector<ReadState> take_read_states();
  // Makes `data` (the application's state at applied_index()) the snapshot and compacts.
  void compact(std::string data, Outputs& out);

  // Inspection (for hosts and invariant checkers).
  const NodeId& id() const { return id_; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  Term fencing_term() const { return term_; }  // the fencing token of this replica
  const NodeId& vote() const { return vote_; }
  const NodeId& leader() const { return leader_; }
  // Grows whenever leader() changes: lets a caller that watches who leads (after every step)
  // skip comparing names when it has not moved.
  std::uint64_t leader_version() const { return leader_version_; }
  // A leader that heard a quorum within election_timeout_min (always, without check-quorum).
  bool quorum_active() const;
  Index commit_index() const { return commit_; }
  // The commit index is at an entry of this term: a leader takes membership changes and serves
  // read-index only from then on (each refused before, with the reason).
  bool committed_in_current_term() const;
  Index applied_index() const { return applied_; }
  const RaftLog& log() const { return log_; }
  const std::vector<NodeId>& voters() const { return voters_; }
  const std::vector<NodeId>& learners() const { return learners_; }
  // Grows whenever voters() or learners() may have changed (a restart included): lets a caller
  // that watches the membership skip comparing the lists after every step.
  std::uint64_t membership_version() const { return membership_version_; }
  const std::optional<v1::RaftSnapshot>& snapshot() const { return snapshot_; }
  const std::map<NodeId, Progress>& progress() const { return progress_; }
  const NodeId& transferee() const { return transferee_; }
  bool started() const { return started_; }
  // Recovery dropped records and no leader has caught this replica up since: it refuses votes
  // and pre-votes and does not campaign (docs/raft.md, "Recovery after data loss"). Durable.
  bool recovering() const { return recovering_; }
  // Messages from members dropped as malformed (message_problem), never asserted on.
  std::uint64_t malformed_messages() const { return malformed_messages_; }
  static constexpr std::size_t kMaxEntriesPerMessage = 1 << 20;
  // Far beyond any log or election, and never overflowing when counted up from.
  static constexpr Index kMaxIndex = Index{1} << 62;
  static constexpr Term kMaxTerm = Term{1} << 62;
  static std::string message_problem(const v1::RaftMessage& m);
  // What makes a configuration from the network one this replica cannot take, or empty: the
  // voters and learners are each sorted without repeats, disjoint, and there is a voter.
  static std::string conf_problem(const v1::RaftConfState& conf);
  v1::RaftConfState conf() const;

 private:
  // Per-role reactions.
  void step_follower(const NodeId& from, const v1::RaftMessage& m);
  void step_candidate(const NodeId& from, const v1::RaftMessage& m);  // pre-candidate too
  void step_leader(const NodeId& from, const v1::RaftMessage& m);
  void tick_election();
  void tick_leader();

  // Terms, roles and elections.
  bool accept_higher_term(const NodeId& from, const v1::RaftMessage& m);
  void answer_lower_term(const NodeId& from, const v1::RaftMessage& m);
  void handle_vote_request(const NodeId& from, const v1::RaftMessage& m);
  void handle_vote_response(const NodeId& from, const v1::RaftMessage& m);
  void set_vote(const NodeId& vote);
  void set_leader(const NodeId& leader);
  void become_follower(Term term, const NodeId& leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void campaign(bool transfer);
  void send_vote_requests(bool transfer);
  bool promotable() const;
  bool may_campaign() const;  // promotable and not recovering
  void maybe_finish_recovery(const NodeId& leader, const v1::RaftMessage& m, Index last_new);
  bool in_lease() const;
  void reset_election_deadline();

  // Follower side of replication.
  void handle_append(const NodeId& from, const v1::RaftMessage& m);
  void handle_heartbeat(const NodeId& from, const v1::RaftMessage& m);
  void handle_snapshot(const NodeId& from, const v1::RaftMessage& m);
  void append_after_conflict(const v1::RaftMessage& m);
  void commit_to(Index index);

  // Leader side of replication (raft_leader.cc).
  // `progress` is from's, found once by step_leader.
  void handle_append_response(const NodeId& from, Progress& progress, const v1::RaftMessage& m);
  void handle_heartbeat_response(const NodeId& from, Progress& progress, const v1::RaftMessage& m);
  void append_local(v1::RaftEntry entry);
  // `progress` is the peer's, passed by callers that hold it (no second lookup by name).
  bool maybe_send_append(const NodeId& peer, Progress& progress, bool send_if_empty);
  void send_snapshot(const NodeId& peer, Progress& progress);
  void broadcast_append();
  void broadcast_heartbeat();
  bool maybe_advance_commit();
  Time quorum_expires_at() const;
  Time least_recently_heard() const;
  void start_read_round();
  void advance_reads();
  void fail_pending_reads();
  void maybe_send_timeout_now(const NodeId& peer);
  void apply_conf(const v1::RaftConfState& conf);
  void reset_progress();
  void set_members(const v1::RaftConfState& conf);
  void index_voters();  // after voters_ or progress_ change

  // Durability and outputs (raft_storage.cc).
  void advance_clock(Time now);
  void send(const NodeId& to, v1::RaftMessage m);
  // A message to `to` made in place in the outbox, with our term and recovery flag: for a caller
  // that fills it at once (nothing between may change the term or end a recovery), so that a
  // heartbeat or an append is not built, then moved into an envelope. Valid until the next one.
  v1::RaftMessage& outgoing(const NodeId& to);
  void flush(Outputs& out);
  void emit_persist(Outputs& out);
  void emit_wake(Outputs& out);
  // kNoDeadline when nothing is due. Not a std::optional: GCC copied one through the stack as two
  // narrow stores and a wide load, which the processor cannot forward (perf put two fifths of
  // flush()'s samples there; a whole swarm run moved less than its noise).
  Time next_deadline() const;
  static constexpr Time kNoDeadline = Time::max();
  v1::RaftHardState hard_state() const;
  bool nothing_to_persist() const;
  bool answers_before_loss(Progress& progress, const v1::RaftMessage& m);
  // message_problem's part for an append: its entries follow one another, their terms never go
  // down nor pass the message's, and each configuration among them is one.
  static std::string append_problem(const v1::RaftMessage& m);
  // What makes an answer to this leader impossible from a sound peer (it claims entries past our
  // log or a read round not sent yet), or null.
  const char* answer_problem(const v1::RaftMessage& m) const;
  static v1::RaftRecord hard_state_copy(const v1::RaftHardState& hard);
  void recall_promises(const std::vector<std::string>& persisted, std::size_t from);
  bool recover(const std::vector<std::string>& persisted);
  bool replay(const v1::RaftRecord& record);
  void bootstrap();

  // Identity and configuration.
  NodeId id_;
  std::vector<NodeId> initial_voters_;
  RaftConfig config_;
  Rng rng_;
  bool started_ = false;
  Time now_{};

  // Hard state (durable) and the log.
  Term term_ = 0;
  NodeId vote_;  // written only by set_vote()
  // Grows at every set_vote(); persisted_vote_version_ is its value when the hard state was last
  // persisted, so most flushes know the vote is unchanged without comparing names.
  std::uint64_t vote_version_ = 0;
  std::uint64_t persisted_vote_version_ = UINT64_MAX;  // none persisted yet
  Index commit_ = 0;
  bool recovering_ = false;  // see recovering()
  RaftLog log_;
  std::optional<v1::RaftSnapshot> snapshot_;  // the latest snapshot, with its data

  // Volatile state.
  Role role_ = Role::follower;
  NodeId leader_;  // written only by set_leader()
  std::uint64_t leader_version_ = 0;
  Index applied_ = 0;
  std::vector<NodeId> voters_;    // sorted; the applied configuration
  std::vector<NodeId> learners_;  // sorted
  std::uint64_t membership_version_ = 0;
  Time election_deadline_{};
  Time leader_heard_at_{};  // follower: last contact from the leader (lease)
  std::map<NodeId, bool> votes_;

  // Leader state.
  std::map<NodeId, Progress> progress_;  // every peer but us
  // Each voter's Progress in the order of voters_ (null for us, and off the leader), and where
  // we are among them: the quorum questions asked at every flush of a leader walk these instead
  // of looking every voter up by name (string compares were a tenth of the Raft workload).
  std::vector<Progress*> voter_progress_;
  static constexpr std::size_t kNotAVoter = SIZE_MAX;
  std::size_t self_voter_index_ = kNotAVoter;
  Time heartbeat_deadline_{};
  Index pending_conf_index_ = 0;
  NodeId transferee_;
  Time transfer_deadline_{};
  struct PendingRead {
    std::uint64_t context = 0;
    Index index = 0;
    std::uint64_t seq = 0;  // 0: waiting for a commit in the current term
  };
  std::deque<PendingRead> pending_reads_;
  std::uint64_t read_seq_ = 0;
  std::uint64_t malformed_messages_ = 0;
  std::vector<ReadState> read_states_;

  // Durability and outputs.
  v1::RaftHardState persisted_hard_state_;
  std::uint64_t append_seq_ = 0;             // leader: APPENDs and INSTALL_SNAPSHOTs sent, numbered
  mutable std::vector<Time> heard_scratch_;  // quorum_expires_at's buffer; no state
  std::vector<Index> matches_scratch_;       // maybe_advance_commit's buffer; no state
  Index unstable_from_ = 1;                  // entries at or after this index are not yet persisted
  bool replace_pending_ = false;
  std::optional<v1::RaftSnapshot> snapshot_to_restore_;
  std::vector<v1::Envelope> outbox_;  // each holds a raft message
  std::vector<NodeId> outbox_to_;
  Time wake_requested_ = Time::min();  // none yet: every `now_` is after it
};

}  // namespace omni::raft
