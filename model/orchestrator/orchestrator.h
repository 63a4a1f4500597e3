#pragma once
// An Orchestrator: one Raft replica (RaftNode) replicating ClusterState, started as a
// container by an Agent. Its leader takes control of every Director with its term, keeps
// them controlled, re-issues the desired VMs and replicas under that term (closing the loop),
// brings back lost Director VMs, replaces lost members one membership change at a time, and
// answers the root's hand-over and status requests.
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/config/cluster_config.h"
#include "model/core/step.h"
#include "model/orchestrator/apps.h"
#include "model/orchestrator/cluster_state.h"
#include "model/orchestrator/events.h"
#include "model/raft/raft_node.h"

namespace omni::orchestrator {

struct OrchestratorConfig {
  Address self;                  // "orchestrator:N", also its Raft id
  std::vector<Address> members;  // the initial voters, identical on every replica
  bool join = false;             // a replacement: no initial voters; waits for the leader to add it
  raft::RaftConfig raft;
  Duration control_interval = 1s;  // resend TakeControl / desired state until acknowledged
  Duration member_lost_after = 10s;
  // A Director silent this long is taken for lost with its VM: the leader has the node's
  // hypervisor create (or boot) the Director VM again, at most once per this interval.
  Duration director_lost_after = 30s;
  // A Director silent this long after its hypervisor answered that its VM exists and runs is
  // taken for hung, and its VM is powered off and booted again; each further power cycle of the
  // same silence waits twice as long as the one before, up to 8 times this. Far longer than a
  // VM takes to boot (a guest that runs cloud-init and imports an image takes minutes), and a
  // Director merely cut off one way (the leader reaches its hypervisor, not it) is cycled
  // seldom.
  Duration director_stuck_after = 3min;
  // Echo each Director's newest report this often, renewing its app lease (DirectorConfig::
  // app_lease); move the apps of a Director silent for apps_move_after, which must exceed that
  // lease by more than any clock drift.
  Duration lease_renew_interval = 2s;
  Duration apps_move_after = 40s;
  // A member silent this long whose node's Director is silent too (the node is gone) is
  // replaced; one silent kReplaceAnywayFactor times as long is replaced wherever it is.
  Duration member_replace_after = 2min;
  // A learner not caught up this long after it was added (its container never ran where it was
  // placed, or cannot keep up there) gives its place back, and the replacement goes elsewhere.
  Duration learner_catch_up_within = 5min;
  // With no leader for this long and fewer voters answering than a quorum, a replica reports
  // the plane's quorum as lost (status), with the members that must come back.
  Duration quorum_lost_after = 1min;
  // TEST ONLY: once the plane is whole, the leader removes a running member, so the
  // simulator's membership_keeps_quorum checker can be shown to fire.
  bool testing_remove_a_running_member = false;
  // TEST ONLY: the scheduler places app replicas without regard to capacity.
  bool testing_scheduler_ignores_capacity = false;
  // TEST ONLY: the first app replica is also wanted on a worker VM of another node, so the
  // simulator's duplicate checker can be shown to fire.
  bool testing_place_an_app_replica_twice = false;
  // TEST ONLY: a leader answers store reads from its own state, without confirming through a
  // read index that it still leads, so the simulator's linearizability check can be shown to
  // fire on the stale reads of a deposed leader.
  bool testing_reads_skip_read_index = false;
};

// What one replica sees of the plane, for status: any replica can say the quorum is lost.
struct PlaneView {
  std::string state;                    // leading | following | joining | electing | quorum lost
  std::vector<Address> silent_members;  // voters not heard from for member_lost_after
  std::uint32_t members_needed = 0;     // of them, how many must answer again for a quorum
  std::string advice;                   // for a person, with the quorum lost
};

// The leader's view of the membership, for status and tests.
struct MembershipView {
  std::vector<Address> voters;
  std::vector<Address> learners;
  std::vector<Address> lost;         // silent members (member_lost_after)
  std::string replacing;             // the member being replaced, if one is
  std::string problem;               // why a replacement cannot go on, for a person
  std::uint32_t replacements = 0;    // replacement replicas this leader placed
  std::uint32_t stuck_learners = 0;  // learners this leader gave up on (learner_catch_up_within)
};

// What the leader knows of one Director, for status and tests.
struct DirectorView {
  Address director;
  bool controlled = false;          // acknowledged TakeControl at the current term
  bool desired_acked = false;       // acknowledged the current desired VMs and replicas
  std::string last_rejection;       // why the Director last refused the desired state, if it did
  std::uint32_t vm_recoveries = 0;  // times its VM was created or booted again by this leader
  // Containers its Agents cannot keep running: down after kFailingAfterRestarts restarts or
  // more, as the Director last reported them. Sorted.
  std::vector<std::string> failing_containers;
};

inline constexpr std::uint32_t kFailingAfterRestarts = 3;

// An app as the leader sees it, for status and tests.
struct AppView {
  std::string name;
  std::uint32_t desired = 0;
  std::uint32_t placed = 0;
  std::uint32_t running = 0;  // as the Directors last reported their containers
  std::uint32_t unschedulable_replicas = 0;
  std::string unschedulable;    // why they have no place
  v1::ContainerSpec container;  // what each replica runs (its name is replica 0's)
};

class Orchestrator final : public Component {
 public:
  Orchestrator(OrchestratorConfig config, Rng rng);
  void step(const Input& input, Outputs& out) override;

  const raft::RaftNode& node() const { return *node_; }
  void set_apply_observer(raft::RaftNode::ApplyObserver observer) {
    node_->set_apply_observer(std::move(observer));
  }
  const ClusterState& state() const { return state_; }
  bool is_leader() const;
  std::uint64_t term() const;
  // Directors that acknowledged TakeControl at the current term (leader only).
  std::vector<Address> controlled_directors() const;
  std::uint32_t members_lost() const { return static_cast<std::uint32_t>(lost_.size()); }
  PlaneView plane() const;
  // Every Director as this leader sees it (empty on a follower), ordered by address.
  std::vector<DirectorView> directors() const;
  MembershipView membership() const;
  std::vector<AppView> apps() const;
  // Messages refused where they entered: Raft traffic from a non-member, a proposal from
  // anyone but this replica, a store request from anyone but a client.
  std::uint64_t dropped_messages() const { return dropped_messages_; }
  // Senders outside the configuration it remembers hearing (a joining replica's), bounded.
  std::size_t peers_heard() const { return peer_heard_at_.size(); }
  // What this replica saw happen: leaders, members, Directors, VMs, containers, apps.
  const EventLog& events() const { return events_; }
  // What `omni status` gets, with the cluster (on the leader) and the events: for a reader on
  // the host's own loop (the dashboard). Healthy means the leader still has a quorum.
  v1::StatusReply described_status() const;

  // Parses "--replica=N --members=a,b,c" as the Root writes them, or "--replica=N --join" as
  // a replacement's are written; nullopt when malformed.
  static std::optional<OrchestratorConfig> from_args(const std::vector<std::string>& args);

 private:
  struct DirectorControl {
    std::uint64_t term = 0;  // acknowledged TakeControl at this term
    // Seqs of the desired-state commands sent and not yet acknowledged; empty once both were.
    std::set<std::uint64_t> unacked_seqs;
    bool desired_acked = false;
    std::string last_rejection;
    Time last_heard{};  // the Director's last report
    std::uint64_t last_report_seq = 0;
    Time next_lease_renewal{};
    Time last_lease_renewal{};  // when an echo last renewed its app lease (or the term began)
    Time next_vm_recovery{};    // no VM recovery for it before this
    std::uint32_t vm_recoveries = 0;
    // Since a create answered that its VM exists (and now runs) while it stayed silent; unset
    // once it reports, or once its VM was powered off to boot again.
    std::optional<Time> vm_runs_silent_since;
    std::uint32_t power_cycles = 0;            // of its VM, in this silence
    std::set<std::string> running_containers;  // from its last report
    // Every container its last report lists, running or not: an Agent restarts one that waits
    // in back-off for as long as its set still asks for it.
    std::set<std::string> listed_containers;
    // Since when its reports have said its app lease ran out (unset while they do not).
    std::optional<Time> apps_fenced_since;
    // Its last report said its lease ran out, or that this incarnation has none yet.
    bool lease_lapsed = true;
    std::set<std::string> failing_containers;  // from its last report
    std::vector<v1::VmStatus> vms;             // its worker VMs, from its last report
    bool reported = false;      // a report arrived this term: later ones are told as changes
    bool silence_told = false;  // its silence is an event already; a report ends the silence
  };
  struct StatusWaiter {
    Address to;
    std::uint64_t seq = 0;
    std::uint64_t nonce = 0;
    bool describe = false;
  };
  struct StoreWaiter {
    Address to;
    std::uint64_t seq = 0;
    v1::StoreRequest request;
  };
  static constexpr std::size_t kMaxStoreWaiters = 1024;
  // A described status holds every Director's VMs and containers (736 KB for 10,000 nodes), and
  // the answers waiting on one commit are built in one step: 1,024 of them were most of a GB.
  // Past this many, a describe is dropped unanswered, and its asker's next try comes later.
  static constexpr std::size_t kMaxDescribeWaiters = 16;
  std::size_t pending_describes() const;
  static constexpr std::size_t kMaxPendingLists = 8;  // of those, lists (each up to 32 MiB)
  std::size_t pending_lists() const;
  // A store request is identified by its sender and its id; one seen again among the last
  // kRememberedStoreRequests is a duplicate delivery and is ignored, so a network that
  // duplicates messages never makes a write apply twice or answer twice with different results.
  static constexpr std::size_t kRememberedStoreRequests = 4096;
  bool seen_before(const Address& from, std::uint64_t id);

  // Who sent an admitted Raft message: this replica (its own proposals), a configured member
  // (by index in config_.members), or another replica of the plane's configuration.
  static constexpr std::size_t kNotAMember = SIZE_MAX;
  struct Sender {
    bool self = false;
    std::size_t member_index = kNotAMember;
  };
  std::optional<Sender> admits_raft_message(const Address& from, const v1::RaftMessage& m) const;
  std::size_t member_index(const Address& address) const;
  void note_heard(const Sender& sender, const Address& from);
  std::optional<Time> heard_at(const Address& peer) const;
  void step_raft(const Input& input, Outputs& out);
  const v1::RaftClientReply* client_reply_to_self(const Output& o) const;
  void on_client_reply(const v1::RaftClientReply& reply, Outputs& out);
  void on_hand_over(const Address& from, std::uint64_t seq, const v1::HandOver& h, Outputs& out);
  void on_status_request(const Address& from, std::uint64_t seq, const v1::StatusRequest& s,
                         Outputs& out);
  void on_store_request(const Address& from, std::uint64_t seq, const v1::StoreRequest& r,
                        Outputs& out);
  void answer_store(const StoreWaiter& waiter, const v1::RaftClientReply& reply, Outputs& out);
  void send_store_reply(const Address& to, std::uint64_t seq, v1::StoreReply reply, Outputs& out);
  void on_director_report(const Address& from, std::uint64_t seq, const v1::DirectorReport& r);
  void on_driver_done(const DriverDone& done);
  void lead(Outputs& out);
  void begin_term();
  void reconcile_director(const Address& director, DirectorControl& control, Outputs& out);
  void control_director(const Address& director, Outputs& out);
  void renew_lease(const Address& director, DirectorControl& control, Outputs& out);
  void send_desired(const Address& director, DirectorControl& control, Outputs& out);
  void recover_director_vm(const Address& director, DirectorControl& control, Outputs& out);
  bool director_vm_is_stuck(const DirectorControl& control) const;
  void power_off_director_vm(const Address& director, const std::string& node, const v1::VmSpec& vm,
                             DirectorControl& control, Outputs& out);
  struct NodeDesired {
    v1::VmSpec director_vm;  // the Director's own VM, as the root created it
    std::vector<v1::VmSpec> vms;
    std::vector<v1::ReplicaSpec> replicas;
  };
  using DesiredByNode = std::map<std::string, NodeDesired>;
  // What the handed-over config says, parsed once: the plan's VMs and the replicas' needs.
  struct Topology {
    std::string cluster;
    int orchestrators = 0;
    config::Resources replica_resources;
    std::vector<std::string> nodes;  // config order: placement is predictable
    std::map<std::string, std::string> node_of_vm;
    std::map<std::string, std::vector<v1::VmSpec>> workers;  // node -> its worker VMs
    std::map<std::string, v1::VmSpec> director_vm;           // node -> its Director's VM
  };
  const Topology* topology();
  const DesiredByNode* desired_by_node();
  void testing_duplicate_app_replica(DesiredByNode& desired, const std::string& home,
                                     const v1::ReplicaSpec& replica) const;
  void notice_lost_members();
  std::optional<Address> stuck_learner();
  void retire_stuck_learner(const Address& learner, Outputs& out);
  bool avoided(const std::string& node) const;
  // Replacing members: one step per control tick, each decided from the committed state and
  // the Raft configuration alone, so a new leader picks up where the last one stopped.
  void reconcile_membership(Outputs& out);
  bool lost_for_good(const Address& member) const;
  Address director_of_member(const Address& member) const;
  std::string described_members(const std::vector<Address>& members) const;
  std::optional<v1::ReplicaSpec> replacement_placement();
  void schedule_apps(Outputs& out);
  std::set<std::pair<std::string, std::uint32_t>> held_replicas(const Topology& t,
                                                                const ScheduleInput& in);
  void note_moves(const Topology& t, const ScheduleInput& in, const ScheduleDecision& decision);
  bool hears_every_node(const Topology& t, const ScheduleInput& in) const;
  bool moves_off(const std::string& node) const;
  std::vector<v1::AppSpec> stored_apps() const;
  bool runs_where_placed(const v1::AppPlacement& p) const;
  void change_membership(v1::RaftClientRequestType type, const Address& node, Outputs& out);
  void propose_membership(const v1::ClusterCommand& command, Outputs& out);
  void propose(const v1::ClusterCommand& command, std::uint64_t request_id, Outputs& out);
  void request(v1::RaftClientRequestType type, std::string data, const Address& node,
               std::uint64_t request_id, Outputs& out);
  void describe_cluster(v1::StatusReply& r) const;
  void describe_events(v1::StatusReply& r) const;
  // Events: each compares what it is given with what this replica saw last.
  void note_plane();
  void note_members();
  void note_report(const Address& director, const DirectorControl& control,
                   const std::set<std::string>& running, const std::set<std::string>& failing,
                   const v1::DirectorReport& r);
  void note_apps();
  void reply_status(const StatusWaiter& w, bool committed, Outputs& out);
  v1::StatusReply status(bool committed, bool describe) const;
  v1::Fence fence() const;

  OrchestratorConfig config_;
  ClusterState state_;
  std::unique_ptr<raft::RaftNode> node_;
  Time now_{};
  Time next_control_{};
  std::uint64_t led_term_ = 0;
  std::map<Address, DirectorControl> directors_;
  std::set<Address> lost_;
  std::map<std::uint64_t, std::pair<Address, std::uint64_t>>
      hand_over_waiters_;                                 // request -> (from, seq)
  std::map<std::uint64_t, StatusWaiter> status_waiters_;  // request id -> waiter
  std::map<std::uint64_t, StoreWaiter> store_waiters_;    // request id -> waiter
  std::set<std::pair<Address, std::uint64_t>> recent_store_requests_;
  std::deque<std::pair<Address, std::uint64_t>> recent_store_order_;  // oldest first
  struct DirectorVmOp {
    Address director;
    VmOpKind kind = VmOpKind::create;
  };
  std::map<std::uint64_t, DirectorVmOp> vm_ops_;  // driver op id -> whose VM, and what was asked
  std::optional<Topology> topology_;              // derived from the handed-over config, cached
  std::optional<DesiredByNode> desired_;          // derived from the replicated state, cached
  std::uint64_t desired_revision_ = 0;            // the state's revision desired_ was derived from
  std::uint64_t desired_revision_sent_ = 0;       // the revision the Directors are being given
  std::uint64_t membership_request_ = 0;  // the membership step in flight (request id), or 0
  std::string membership_problem_;
  Address replacing_;
  std::map<Address, Time> learner_since_;    // when this leader first saw each learner
  std::map<std::string, Time> avoid_nodes_;  // node -> when a learner got stuck there
  std::uint32_t replacements_ = 0;
  std::uint32_t stuck_learners_ = 0;
  // Raft traffic from each peer, as a follower sees it: the configured members by index, any
  // other replica (one that joined later) by name.
  std::vector<std::optional<Time>> member_heard_at_;
  static constexpr std::size_t kMaxPeersHeard = 64;  // more than any configuration has members
  std::map<Address, Time> peer_heard_at_;
  std::size_t self_member_index_ = kNotAMember;
  Time leader_known_at_{};          // the last step at which this replica knew a leader
  std::uint64_t apps_request_ = 0;  // the placement decision in flight (request id), or 0
  std::map<std::string, Unschedulable> unschedulable_;  // by app
  // App replicas this leader took off a node it still hears, (app, index) -> that node: each is
  // placed again only once that node's Director has its new set and reports no copy running.
  std::map<std::pair<std::string, std::uint32_t>, std::string> moving_from_;
  std::uint64_t next_request_id_ = 1;
  std::uint64_t next_seq_ = 1;
  std::uint64_t next_op_id_ = 1;
  std::uint64_t dropped_messages_ = 0;
  EventLog events_;
  std::uint64_t seen_term_ = 0;  // what the events last told of the plane
  Address seen_leader_;
  // Raft's leader_version() when its leader was last seen to be seen_leader_.
  std::uint64_t leader_seen_at_version_ = UINT64_MAX;
  std::vector<Address> seen_voters_;
  std::vector<Address> seen_learners_;
  std::uint64_t seen_membership_version_ = UINT64_MAX;  // none seen yet
  // App -> its last told state, and "APP replica N" -> the VM it was last told placed on.
  std::map<std::string, std::string> seen_apps_;
  Time term_began_at_{};                // when this leader began its term
  std::size_t directors_reported_ = 0;  // Directors that reported this term
};

}  // namespace omni::orchestrator
