#pragma once
// The Root: the temporary orchestrator of `omni init`. Walks the phases of DESIGN.md, each
// idempotent and resumable from its checkpoint, fenced by an init epoch so two roots never
// act at once, and exits only after it has seen a healthy quorum control every Director.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/config/cluster_config.h"
#include "model/core/step.h"
#include "model/director/fence.h"
#include "model/proto/state.pb.h"
#include "model/root/plan.h"

namespace omni::root {

inline const Address kRootAddress = "root";

struct RootConfig {
  Address self = kRootAddress;  // where Directors report: a claim is ours only if it names it
  config::ClusterConfig cluster;
  Duration retry_interval = 1s;    // resend what has not been answered
  Duration phase_timeout = 10min;  // a phase that cannot finish in this time fails init
  std::string orchestrator_image = "omni/orchestrator";
  bool testing_act_after_teardown = false;  // test-only: a root that never leaves
  // TEST ONLY: a Director held at this root's epoch by another root counts as claimed.
  bool testing_ignore_other_roots = false;
};

inline const Address kProgressAddress = "progress";

// The epoch a root's message number carries: each incarnation numbers its messages from
// (epoch << 32) + 1.
constexpr std::uint64_t seq_epoch(std::uint64_t seq) {
  return seq >> 32;
}
// Above every epoch a root takes (one a restart): a checkpoint that holds one is damaged.
inline constexpr std::uint64_t kMaxEpoch = std::uint64_t{1} << 31;

class Root final : public Component {
 public:
  explicit Root(RootConfig config);
  void step(const Input& input, Outputs& out) override;

  Phase phase() const { return phase_; }
  std::uint64_t epoch() const { return epoch_; }
  bool failed() const { return failed_; }
  const std::string& failure() const { return reason_; }
  // Checkpoints found torn or corrupt at the last start (their checksum did not match).
  std::uint32_t corrupt_checkpoints() const { return corrupt_checkpoints_; }
  const Plan& plan() const { return plan_; }
  // The replica set the root hands to each Orchestrator, as container args.
  static std::vector<std::string> replica_args(int replica, const std::vector<Address>& members);

 private:
  std::uint32_t corrupt_checkpoints_ = 0;
  struct DirectorView {
    bool vm_created = false;
    bool hello = false;
    bool claimed = false;
    bool workers_ready = false;
    bool replicas_ready = false;
    bool controlled_by_cluster = false;  // accepted era 1 at the leader's term
    bool operator==(const DirectorView&) const = default;
  };
  // The view fields all() counts, kept as running counts: counting them over thousands of
  // views after every change made a large init quadratic.
  static constexpr std::array<bool DirectorView::*, 4> kCountedFields = {
      &DirectorView::claimed, &DirectorView::workers_ready, &DirectorView::replicas_ready,
      &DirectorView::controlled_by_cluster};
  void count_view(const DirectorView& view, int sign);
  static std::size_t counted_index(bool DirectorView::*field);
  std::size_t ready_count(bool DirectorView::*field) const;

  void on_start(const Start& start, Outputs& out);
  void on_deliver(const Deliver& deliver, Outputs& out);
  void on_hello(const Address& from);
  void on_driver_done(const DriverDone& done, Outputs& out);
  void on_director_report(const Address& from, const v1::DirectorReport& report, Outputs& out);
  void on_hand_over_ack(const Address& from, const v1::HandOverAck& ack, Outputs& out);
  void on_status_reply(const Address& from, const v1::StatusReply& reply, Outputs& out);

  // One per phase: (re)send what the phase still needs; advance when it is complete.
  void drive(Outputs& out);
  void drive_phase(Outputs& out);
  void step_preflight(Outputs& out);
  void step_directors(Outputs& out);
  void step_workers(Outputs& out);
  void step_orchestrators(Outputs& out);
  void step_register(Outputs& out);
  void step_takeover_and_verify(Outputs& out);
  void step_teardown(Outputs& out);

  void enter(Phase next, Outputs& out);
  void fail(const std::string& reason, Outputs& out);
  void note_retry(const std::string& reason, Outputs& out);
  void progress(const std::string& detail, bool failed, bool done, Outputs& out);
  void persist(Outputs& out) const;
  void command(const std::string& node, v1::DirectorCommand command, Outputs& out);
  v1::DirectorCommand fenced() const;
  v1::HandOver hand_over() const;
  const std::vector<v1::VmSpec>& worker_specs(const std::string& node) const;
  const std::vector<v1::ReplicaSpec>& replica_specs(const std::string& node) const;
  void index_plan();
  void take_hint(const Address& hint);
  std::vector<Address> members() const;
  bool all(bool DirectorView::*field, const char* counted, Outputs& out);
  void update_view(DirectorView& view, const v1::DirectorReport& r, Outputs& out);
  bool retry_due();

  RootConfig config_;
  Plan plan_;
  std::map<std::string, std::vector<v1::VmSpec>> workers_by_node_;
  std::map<std::string, std::vector<v1::ReplicaSpec>> replicas_by_node_;
  Time now_{};
  std::uint64_t epoch_ = 0;         // persisted
  Phase phase_ = Phase::preflight;  // persisted
  bool failed_ = false;             // persisted
  std::string reason_;
  Time phase_started_{};
  Time last_send_{};
  bool sent_once_ = false;
  std::map<std::string, DirectorView> directors_;  // by node
  std::set<std::string> nodes_listed_;
  std::map<std::uint64_t, std::string> pending_ops_;  // op id -> node
  std::set<std::string> nodes_pending_;               // nodes with an op in pending_ops_
  bool views_changed_ = true;                         // a DirectorView changed since all()
  std::array<std::size_t, kCountedFields.size()> ready_counts_{};  // views with each field
  std::size_t reported_ready_ = 0;  // the count all() last showed a person
  std::uint64_t next_op_id_ = 1;
  std::uint64_t next_seq_ = 1;
  std::size_t orchestrator_target_ = 0;  // whom to ask next, round robin over members
  Address leader_hint_;
  bool handed_over_ = false;
  std::uint64_t status_nonce_ = 0;
  bool verified_by_leader_ = false;
  std::uint64_t leader_term_ = 0;
  bool exited_ = false;
  Time wake_at_{};  // the pending WakeAt, if later than now_
  // Failed or done: the outcome is persisted and reported; the root exits at its next step, so
  // a watcher (the simulator's checkers, a person's terminal) sees the outcome before it goes.
  bool leaving_ = false;
};

}  // namespace omni::root
