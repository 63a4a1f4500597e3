// Raft: durability (records, recovery, compaction), the application side, and the ordering of
// outputs: Persist, then Send, then WakeAt.
#include <algorithm>
#include <cstdint>
#include <optional>

#include "model/core/assert.h"
#include "model/raft/raft.h"
#include "model/raft/record.h"

namespace omni::raft {

// Start and recovery -------------------------------------------------------------------------

void Raft::start(Time now, const std::vector<std::string>& persisted, Outputs& out) {
  const NodeId id = id_;
  std::vector<NodeId> initial_voters = initial_voters_;
  const RaftConfig config = config_;
  const Rng rng = rng_;
  const std::uint64_t membership_version = membership_version_;
  *this = Raft(id, std::move(initial_voters), config, rng);  // a restart forgets everything
  membership_version_ = membership_version + 1;              // but the watchers must look again
  started_ = true;
  now_ = now;
  if (persisted.empty()) {
    bootstrap();
  } else if (!recover(persisted)) {
    // Records were dropped, so a vote or an acknowledged entry may be forgotten: stop voting
    // and campaigning until a leader catches us up. A corrupt first record leaves us blank but
    // recovering, never re-bootstrapped. The flag is durable: the rewrite below carries it.
    recovering_ = true;
    replace_pending_ = true;  // rewrite the good prefix so no record hides behind a bad one
  }
  applied_ = log_.snapshot_index();
  if (snapshot_.has_value()) {
    set_members(snapshot_->conf());
    snapshot_to_restore_ = snapshot_;
  }
  commit_ = std::clamp(commit_, log_.snapshot_index(), log_.last_index());
  reset_election_deadline();
  OMNI_ASSERT(applied_ <= commit_ && commit_ <= log_.last_index());
  OMNI_ASSERT(role_ == Role::follower && leader_.empty());
  OMNI_ASSERT(!recovering_ || !persisted.empty(), "a first boot has nothing to lose");
  flush(out);
}

// A new cluster: every initial member writes the same first entry, the initial configuration.
void Raft::bootstrap() {
  if (initial_voters_.empty()) return;  // joins an existing cluster: waits for the leader
  v1::RaftEntry entry;
  entry.set_term(1);
  entry.set_index(1);
  entry.set_type(v1::RAFT_ENTRY_TYPE_CONF);
  for (const NodeId& voter : initial_voters_) entry.mutable_conf()->add_voters(voter);
  log_.append(std::move(entry));
  term_ = 1;
  commit_ = 1;
  unstable_from_ = 1;
  OMNI_ASSERT(log_.last_index() == 1 && persisted_hard_state_.term() == 0);
}

// Replays records in order and stops at the first one that is corrupt or inconsistent.
// Returns whether every record was good.
bool Raft::recover(const std::vector<std::string>& persisted) {
  OMNI_ASSERT(log_.last_index() == 0 && term_ == 0);
  std::size_t good = 0;
  while (good < persisted.size()) {
    const std::optional<v1::RaftRecord> record = decode_record(persisted[good]);
    if (!record.has_value() || !replay(*record)) break;
    ++good;
  }
  const bool all_good = good == persisted.size();
  if (!all_good) recall_promises(persisted, good + 1);
  persisted_hard_state_ = hard_state();
  persisted_vote_version_ = vote_version_;
  unstable_from_ = log_.last_index() + 1;
  OMNI_ASSERT(unstable_from_ > log_.snapshot_index());
  return all_good;
}

// The log after a bad record cannot be trusted to follow on from the good prefix, but every
// record that passes its checksum was written by us, in order, with terms that only grow: the
// highest term among them, and the vote in it, are promises made and kept even if the entries
// beside them are dropped.
void Raft::recall_promises(const std::vector<std::string>& persisted, std::size_t from) {
  const Term term_before = term_;
  for (std::size_t i = from; i < persisted.size(); ++i) {
    const std::optional<v1::RaftRecord> record = decode_record(persisted[i]);
    if (!record.has_value() || !record->has_hard_state()) continue;
    const v1::RaftHardState& hard = record->hard_state();
    if (hard.term() > term_) {
      term_ = hard.term();
      set_vote(hard.vote());
    } else if (hard.term() == term_ && vote_.empty()) {
      set_vote(hard.vote());
    }
  }
  OMNI_ASSERT(term_ >= term_before, "promises only add");
  OMNI_ASSERT(log_.last_term() <= std::max(term_, Term{1}));
}

bool Raft::replay(const v1::RaftRecord& record) {
  OMNI_ASSERT(commit_ <= log_.last_index(), "the records so far were consistent");
  if (record.has_snapshot()) {
    const v1::RaftSnapshot& snapshot = record.snapshot();
    if (snapshot.index() < log_.snapshot_index() || snapshot.index() < commit_) return false;
    log_.compact_to(snapshot.index(), snapshot.term());
    snapshot_ = snapshot;
  }
  for (const v1::RaftEntry& entry : record.entries()) {
    const bool contiguous = entry.index() > log_.snapshot_index() &&
                            entry.index() <= log_.last_index() + 1 && entry.index() > commit_;
    if (!contiguous) return false;
    if (entry.index() <= log_.last_index()) log_.truncate_from(entry.index());
    if (entry.term() < log_.last_term()) return false;
    log_.append(entry);
  }
  if (record.has_hard_state()) {
    const v1::RaftHardState& hard = record.hard_state();
    if (hard.term() < term_ || hard.commit() < commit_) return false;
    term_ = hard.term();
    set_vote(hard.vote());
    recovering_ = hard.recovering();  // the latest hard state says whether we are caught up
    commit_ = std::min<Index>(hard.commit(), log_.last_index());
  }
  if (log_.last_term() > std::max(term_, Term{1})) return false;  // an entry from the future
  OMNI_ASSERT(commit_ <= log_.last_index(), "commit <= last index");
  return true;
}

// The application side -----------------------------------------------------------------------

std::size_t Raft::entries_to_apply() const {
  OMNI_ASSERT(applied_ <= commit_ && applied_ >= log_.snapshot_index());
  if (applied_ == commit_) return 0;
  const std::size_t count =
      log_.slice_size(applied_ + 1, commit_, config_.max_apply_batch, config_.max_bytes_per_append);
  OMNI_ASSERT(count > 0 && applied_ + count <= commit_, "at least one, none past the commit");
  return count;
}

void Raft::mark_applied(Index index, Outputs& out) {
  OMNI_ASSERT(index >= applied_ && index <= commit_, "applied <= commit, never backwards");
  for (Index i = applied_ + 1; i <= index; ++i) {
    const v1::RaftEntry& entry = log_.at(i);
    applied_ = i;
    if (entry.type() == v1::RAFT_ENTRY_TYPE_CONF) apply_conf(entry.conf());
  }
  OMNI_ASSERT(applied_ == index);
  flush(out);
}

std::optional<v1::RaftSnapshot> Raft::take_snapshot_to_restore() {
  std::optional<v1::RaftSnapshot> snapshot = std::move(snapshot_to_restore_);
  snapshot_to_restore_.reset();
  return snapshot;
}

std::vector<ReadState> Raft::take_read_states() {
  std::vector<ReadState> states = std::move(read_states_);
  read_states_.clear();
  return states;
}

void Raft::compact(std::string data, Outputs& out) {
  OMNI_ASSERT(started_ && !snapshot_to_restore_.has_value());
  OMNI_ASSERT(applied_ > log_.snapshot_index(), "compaction moves forward");
  v1::RaftSnapshot snapshot;
  snapshot.set_index(applied_);
  snapshot.set_term(*log_.term_at(applied_));
  *snapshot.mutable_conf() = conf();  // configurations apply at apply time: this is applied_'s
  snapshot.set_data(std::move(data));
  log_.compact_to(snapshot.index(), snapshot.term());
  snapshot_ = std::move(snapshot);
  replace_pending_ = true;
  OMNI_ASSERT(log_.snapshot_index() == applied_ && applied_ <= commit_);
  flush(out);
}

// Outputs --------------------------------------------------------------------------------------

void Raft::advance_clock(Time now) {
  now_ = std::max(now_, now);  // late or reordered inputs never move time backwards
}

void Raft::send(const NodeId& to, v1::RaftMessage m) {
  OMNI_ASSERT(to != id_, "no message to ourselves");
  if (m.term() == 0) m.set_term(term_);
  m.set_recovering(recovering_);  // a leader must not count our acknowledgments yet
  outbox_.emplace_back().mutable_raft()->Swap(&m);
  outbox_to_.push_back(to);
}

v1::RaftMessage& Raft::outgoing(const NodeId& to) {
  OMNI_ASSERT(to != id_, "no message to ourselves");
  v1::RaftMessage& m = *outbox_.emplace_back().mutable_raft();
  outbox_to_.push_back(to);
  m.set_term(term_);
  m.set_recovering(recovering_);  // a leader must not count our acknowledgments yet
  OMNI_ASSERT(outbox_.size() == outbox_to_.size());
  return m;
}

v1::RaftHardState Raft::hard_state() const {
  v1::RaftHardState hard;
  hard.set_term(term_);
  hard.set_vote(vote_);
  hard.set_commit(commit_);
  hard.set_recovering(recovering_);
  return hard;
}

// Persist, then Send: whatever a message reveals (term, vote, entries, commit) is durable first.
void Raft::flush(Outputs& out) {
  OMNI_ASSERT(outbox_.size() == outbox_to_.size());
  if (role_ == Role::leader) maybe_advance_commit();  // our own entries are persisted below
  emit_persist(out);
  // Built in place: a temporary Send moved into the vector cost two more envelope moves a message.
  for (std::size_t i = 0; i < outbox_.size(); ++i)
    out.emplace_back(std::in_place_type<Send>, std::move(outbox_to_[i]), std::move(outbox_[i]));
  outbox_.clear();
  outbox_to_.clear();
  emit_wake(out);
  OMNI_ASSERT(unstable_from_ == log_.last_index() + 1, "every entry is persisted");
}

// Most flushes (a heartbeat and its answer) have nothing to persist; they are told apart here
// without building the protobuf record.
bool Raft::nothing_to_persist() const {
  const v1::RaftHardState& persisted = persisted_hard_state_;
  return !replace_pending_ && unstable_from_ > log_.last_index() && term_ == persisted.term() &&
         commit_ == persisted.commit() && recovering_ == persisted.recovering() &&
         (vote_version_ == persisted_vote_version_ || vote_ == persisted.vote());
}

// The record is encoded from the log and the hard state where they are (RecordParts): building a
// RaftRecord copied every new entry once more at every append.
void Raft::emit_persist(Outputs& out) {
  if (nothing_to_persist()) return;
  const v1::RaftHardState& persisted = persisted_hard_state_;
  OMNI_ASSERT(term_ >= persisted.term(), "persisted terms never decrease");
  const bool promise_changed = term_ != persisted.term() || vote_ != persisted.vote();
  const bool hard_changed =
      promise_changed || commit_ != persisted.commit() || recovering_ != persisted.recovering();
  const bool promise_written = replace_pending_ || promise_changed;
  std::optional<v1::RaftHardState> hard;
  if (hard_changed || replace_pending_) hard = hard_state();
  RecordParts parts;
  if (replace_pending_) {
    parts.snapshot = snapshot_.has_value() ? &*snapshot_ : nullptr;
    parts.entries = log_.entries();
    parts.hard_state = &*hard;
  } else {
    parts.entries = log_.entries_from(unstable_from_);
    parts.hard_state = hard_changed ? &*hard : nullptr;
  }
  OMNI_ASSERT(parts.hard_state != nullptr || !parts.entries.empty(), "a record holds something");
  out.push_back(Persist{encode_record(parts), true, replace_pending_});
  // A term and a vote are promises to other replicas; a second record holds them too, so that
  // one corrupted record cannot make this replica vote twice in a term (recover() reads them
  // from any good record). Rare: once per term, and after a rewrite.
  if (promise_written) out.push_back(Persist{encode_record(hard_state_copy(*hard)), true, false});
  replace_pending_ = false;
  if (hard.has_value()) {
    persisted_hard_state_ = std::move(*hard);
    persisted_vote_version_ = vote_version_;
  }
  unstable_from_ = log_.last_index() + 1;
}

v1::RaftRecord Raft::hard_state_copy(const v1::RaftHardState& hard) {
  v1::RaftRecord copy;
  *copy.mutable_hard_state() = hard;
  return copy;
}

// GCC 12 at -O3 inlines the vector's reallocation into this push_back and then reports the
// other alternatives of the Output variant (VmOp, Persist's string) as "maybe uninitialized"
// while they are moved: a known false positive inside std::variant (GCC bug 105562 and kin).
// Silenced for this one function, not for the project.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// A wake already asked for, at or before the deadline, will come, and the step it makes asks for
// the later one then. Asking at once for every later deadline made a tick per heartbeat at every
// follower (each heartbeat moves its election deadline), each one doing nothing: on the Raft
// workload a third of the simulator's events.
void Raft::emit_wake(Outputs& out) {
  const Time deadline = next_deadline();
  if (deadline == kNoDeadline) return;
  const bool earlier_wake_pending = now_ < wake_requested_ && wake_requested_ <= deadline;
  if (earlier_wake_pending) return;
  out.push_back(WakeAt{deadline});
  wake_requested_ = deadline;
  OMNI_ASSERT(wake_requested_ == deadline, "the wake asked for is remembered");
  OMNI_ASSERT(wake_requested_ != kNoDeadline);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

Time Raft::next_deadline() const {
  if (role_ != Role::leader) {
    // A learner, a removed server or a recovering replica does not campaign.
    if (!may_campaign()) return kNoDeadline;
    OMNI_ASSERT(election_deadline_ != kNoDeadline);
    return election_deadline_;
  }
  Time deadline = heartbeat_deadline_;
  // The quorum's expiry is never before the least recent voter's; only when that is earlier than
  // the deadline so far is the quorum-th most recent worth finding (asked at every flush).
  if (config_.check_quorum && least_recently_heard() + config_.election_timeout_min < deadline)
    deadline = std::min(deadline, quorum_expires_at());
  if (!transferee_.empty()) deadline = std::min(deadline, transfer_deadline_);
  for (const auto& [peer, progress] : progress_) {
    if (progress.state == ProgressState::snapshot) {
      deadline = std::min(deadline, progress.snapshot_sent_at + config_.election_timeout_min);
    }
  }
  OMNI_ASSERT(deadline <= heartbeat_deadline_ && deadline != kNoDeadline);
  return deadline;
}

}  // namespace omni::raft
