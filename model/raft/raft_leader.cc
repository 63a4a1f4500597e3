// Raft: the leader side — replication, commitment, check-quorum, read-index, membership and
// leadership transfer — plus the requests a host makes of the leader.
#include <algorithm>

#include "model/core/assert.h"
#include "model/raft/raft.h"

namespace omni::raft {

using v1::RaftMessage;

namespace {

RequestResult not_leader() {
  return RequestResult{RequestStatus::not_leader, 0, 0, "not the leader"};
}
RequestResult rejected(std::string why) {
  return RequestResult{RequestStatus::rejected, 0, 0, std::move(why)};
}

}  // namespace

// Requests -----------------------------------------------------------------------------------

RequestResult Raft::propose(Time now, std::string data, Outputs& out) {
  OMNI_ASSERT(started_);
  advance_clock(now);
  RequestResult result = not_leader();
  if (role_ != Role::leader) {
  } else if (!transferee_.empty()) {
    result = rejected("leadership transfer to " + transferee_ + " in progress");
  } else if (log_.last_index() - commit_ >= config_.max_uncommitted_entries) {
    result = rejected("too many uncommitted entries");
  } else {
    if (config_.testing_leader_overwrites_its_last_entry && log_.last_index() > commit_ &&
        log_.last_term() == term_) {
      log_.truncate_from(log_.last_index());
      unstable_from_ = std::min(unstable_from_, log_.last_index() + 1);
    }
    v1::RaftEntry entry;
    entry.set_term(term_);
    entry.set_index(log_.last_index() + 1);
    entry.set_data(std::move(data));
    result = RequestResult{RequestStatus::ok, entry.index(), entry.term(), {}};
    append_local(std::move(entry));
    broadcast_append();
  }
  OMNI_ASSERT(result.status != RequestStatus::ok || log_.matches(result.index, term_));
  flush(out);
  return result;
}

RequestResult Raft::propose_conf_change(Time now, v1::RaftClientRequestType kind,
                                        const NodeId& node, Outputs& out) {
  OMNI_ASSERT(started_);
  advance_clock(now);
  RequestResult result = not_leader();
  if (role_ == Role::leader) {
    auto peer = progress_.find(node);
    const bool caught_up = peer != progress_.end() && peer->second.match >= commit_;
    auto next = conf_after_change(conf(), kind, node, caught_up);
    if (!committed_in_current_term()) {
      result = rejected("the leader has not committed an entry in its term yet");
    } else if (pending_conf_index_ > applied_) {
      result = rejected("a configuration change is still in progress");
    } else if (!transferee_.empty()) {
      result = rejected("leadership transfer in progress");
    } else if (auto* why = std::get_if<std::string>(&next)) {
      result = rejected(*why);
    } else {
      v1::RaftEntry entry;
      entry.set_term(term_);
      entry.set_index(log_.last_index() + 1);
      entry.set_type(v1::RAFT_ENTRY_TYPE_CONF);
      *entry.mutable_conf() = std::get<v1::RaftConfState>(next);
      pending_conf_index_ = entry.index();
      result = RequestResult{RequestStatus::ok, entry.index(), entry.term(), {}};
      append_local(std::move(entry));
      broadcast_append();
    }
  }
  // A leader's only: a follower's log may since have been cut below the index it recorded when
  // it led (RaftMembership.AConfChangeSentToAFollowerWhoseLogWasCutIsRefusedNotACrash).
  OMNI_ASSERT(role_ != Role::leader || pending_conf_index_ <= log_.last_index());
  flush(out);
  return result;
}

RequestResult Raft::read_index(Time now, std::uint64_t context, Outputs& out) {
  OMNI_ASSERT(started_);
  advance_clock(now);
  RequestResult result = not_leader();
  if (role_ != Role::leader) {
  } else if (pending_reads_.size() >= config_.max_pending_reads) {
    result = rejected("too many pending reads");
  } else {
    pending_reads_.push_back(PendingRead{context, 0, 0});
    if (committed_in_current_term()) start_read_round();
    result = RequestResult{RequestStatus::ok, 0, term_, {}};
  }
  OMNI_ASSERT(pending_reads_.size() <= config_.max_pending_reads);
  flush(out);
  return result;
}

RequestResult Raft::transfer_leadership(Time now, const NodeId& target, Outputs& out) {
  OMNI_ASSERT(started_);
  advance_clock(now);
  RequestResult result = not_leader();
  if (role_ != Role::leader) {
  } else if (target == id_) {
    result = RequestResult{RequestStatus::ok, 0, term_, {}};
  } else if (!contains(voters_, target)) {
    result = rejected(target + " is not a voter");
  } else {
    transferee_ = target;
    transfer_deadline_ = now_ + config_.election_timeout_min;
    maybe_send_timeout_now(target);
    if (transferee_ == target) maybe_send_append(target, progress_.at(target), false);
    result = RequestResult{RequestStatus::ok, 0, term_, {}};
  }
  OMNI_ASSERT(transferee_.empty() || role_ == Role::leader);
  flush(out);
  return result;
}

// Ticks --------------------------------------------------------------------------------------

void Raft::tick_leader() {
  OMNI_ASSERT(role_ == Role::leader);
  if (config_.check_quorum && !quorum_active()) {
    become_follower(term_, NodeId{});  // cannot hear a majority: step down
    return;
  }
  if (!transferee_.empty() && now_ >= transfer_deadline_) transferee_.clear();
  for (auto& [peer, progress] : progress_) {
    const bool snapshot_overdue = progress.state == ProgressState::snapshot &&
                                  now_ >= progress.snapshot_sent_at + config_.election_timeout_min;
    if (snapshot_overdue) progress.become_probe();  // the snapshot or its answer was lost
  }
  if (now_ >= heartbeat_deadline_) {
    broadcast_heartbeat();
    heartbeat_deadline_ = now_ + config_.heartbeat_interval;
  }
  OMNI_ASSERT(heartbeat_deadline_ > now_);
}

bool Raft::quorum_active() const {
  return !config_.check_quorum || now_ < quorum_expires_at();
}

// The time at which the leader stops having heard a quorum within election_timeout_min.
// Asked at every flush of a leader: the times go to a buffer kept for it, not a new vector.
Time Raft::quorum_expires_at() const {
  OMNI_ASSERT(role_ == Role::leader);
  std::vector<Time>& heard = heard_scratch_;
  heard.clear();
  for (std::size_t i = 0; i < voters_.size(); ++i) {
    if (i == self_voter_index_) {
      heard.push_back(Time::max() - config_.election_timeout_min);
    } else {
      OMNI_ASSERT(voter_progress_[i] != nullptr, "a leader tracks every voter");
      heard.push_back(voter_progress_[i]->last_heard_at);
    }
  }
  if (heard.empty()) return Time::max() - config_.election_timeout_min;  // removed
  // The quorum-th most recent: a partial sort is enough.
  const auto nth = heard.begin() + static_cast<std::ptrdiff_t>(quorum_of(heard.size()) - 1);
  std::nth_element(heard.begin(), nth, heard.end(), std::greater<>());
  return *nth + config_.election_timeout_min;
}

// The earliest time a voter other than ourselves was last heard (Time::max() when alone).
Time Raft::least_recently_heard() const {
  OMNI_ASSERT(role_ == Role::leader);
  Time least = Time::max() - config_.election_timeout_min;
  for (std::size_t i = 0; i < voters_.size(); ++i)
    if (i != self_voter_index_) least = std::min(least, voter_progress_[i]->last_heard_at);
  OMNI_ASSERT(least <= Time::max() - config_.election_timeout_min);
  return least;
}

// Replication ----------------------------------------------------------------------------------

void Raft::append_local(v1::RaftEntry entry) {
  OMNI_ASSERT(role_ == Role::leader && entry.term() == term_);
  log_.append(std::move(entry));  // persisted by flush() before any Send carrying it
  OMNI_ASSERT(log_.last_term() == term_);
}

void Raft::broadcast_append() {
  OMNI_ASSERT(role_ == Role::leader);
  for (auto& [peer, progress] : progress_) maybe_send_append(peer, progress, true);
}

bool Raft::maybe_send_append(const NodeId& peer, Progress& progress, bool send_if_empty) {
  OMNI_ASSERT(role_ == Role::leader);
  OMNI_ASSERT(progress.next > progress.match, "next is past what the peer is known to hold");
  if (progress.paused(config_.max_inflight_appends)) return false;
  const Index prev = progress.next - 1;
  const std::optional<Term> prev_term = log_.term_at(prev);
  if (!prev_term.has_value()) {  // compacted away: only a snapshot can catch it up
    send_snapshot(peer, progress);
    return true;
  }
  const std::size_t count =
      progress.next <= log_.last_index()
          ? log_.slice_size(progress.next, log_.last_index(), config_.max_entries_per_append,
                            config_.max_bytes_per_append)
          : 0;
  if (count == 0 && !send_if_empty) return false;
  OMNI_ASSERT(count <= config_.max_entries_per_append, "bounded append");
  RaftMessage& m = outgoing(peer);
  m.set_type(v1::RAFT_MESSAGE_TYPE_APPEND);
  m.set_index(prev);
  m.set_log_term(*prev_term);
  m.set_commit(commit_);
  if (count > 0) {
    const Index last_sent = progress.next + count - 1;
    if (progress.state == ProgressState::replicate) {
      progress.next = last_sent + 1;
      progress.inflight.push_back(last_sent);
    }
    m.mutable_entries()->Reserve(static_cast<int>(count));
    for (Index i = prev + 1; i <= last_sent; ++i) *m.add_entries() = log_.at(i);
  }
  if (progress.state == ProgressState::probe) progress.probe_sent = true;
  OMNI_ASSERT(progress.inflight.size() <= config_.max_inflight_appends, "bounded inflight");
  m.set_append_seq(++append_seq_);
  return true;
}

void Raft::send_snapshot(const NodeId& peer, Progress& progress) {
  OMNI_ASSERT(snapshot_.has_value(), "entries are only compacted into a snapshot");
  OMNI_ASSERT(snapshot_->index() == log_.snapshot_index());
  progress.state = ProgressState::snapshot;
  progress.inflight.clear();
  progress.pending_snapshot = snapshot_->index();
  progress.snapshot_sent_at = now_;
  RaftMessage m;
  m.set_type(v1::RAFT_MESSAGE_TYPE_INSTALL_SNAPSHOT);
  *m.mutable_snapshot() = *snapshot_;
  m.set_append_seq(++append_seq_);
  send(peer, std::move(m));
}

void Raft::broadcast_heartbeat() {
  OMNI_ASSERT(role_ == Role::leader);
  for (const auto& [peer, progress] : progress_) {
    RaftMessage& m = outgoing(peer);
    m.set_type(v1::RAFT_MESSAGE_TYPE_HEARTBEAT);
    m.set_commit(std::min(progress.match, commit_));
    m.set_read_seq(read_seq_);
  }
  OMNI_ASSERT(outbox_.size() >= progress_.size());
}

void Raft::handle_append_response(const NodeId& from, Progress& progress, const RaftMessage& m) {
  OMNI_ASSERT(role_ == Role::leader && m.term() == term_);
  const bool lost = m.recovering() && (m.reject() ? m.reject_hint() : m.index()) < progress.match;
  if (lost) {
    // The peer lost entries it had acknowledged: the match we hold predates the loss. Its log is
    // known to match ours only up to a successful answer's index, otherwise nowhere.
    progress.match = m.reject() ? 0 : m.index();
    progress.become_probe();
    OMNI_ASSERT(progress.next == progress.match + 1, "probe again from what is proven");
  }
  if (m.reject()) {
    const bool stale =
        !lost && (progress.state == ProgressState::replicate ? m.index() <= progress.match
                                                             : m.index() != progress.next - 1);
    if (stale) return;
    const Index hinted = std::min(m.index(), m.reject_hint() + 1);
    progress.become_probe();
    progress.next = std::max<Index>(progress.match + 1, std::max<Index>(hinted, 1));
    maybe_send_append(from, progress, true);
    return;
  }
  if (m.index() > progress.match) {
    progress.match = m.index();
    progress.next = std::max(progress.next, progress.match + 1);
    progress.free_up_to(m.index());
    if (progress.state != ProgressState::replicate) progress.become_replicate();
    if (maybe_advance_commit()) broadcast_append();
    if (from == transferee_) maybe_send_timeout_now(from);
  } else if (progress.state == ProgressState::probe) {
    progress.probe_sent = false;
  }
  OMNI_ASSERT(progress.match <= log_.last_index(), "a follower cannot match beyond our log");
  for (std::size_t i = 0; i < config_.max_inflight_appends; ++i) {
    if (!maybe_send_append(from, progress, false)) break;
  }
}

void Raft::handle_heartbeat_response(const NodeId& from, Progress& progress, const RaftMessage& m) {
  OMNI_ASSERT(role_ == Role::leader && m.term() == term_);
  // A recovering peer may have forgotten a vote for a newer leader: it cannot confirm ours.
  if (!m.recovering()) progress.read_seq_acked = std::max(progress.read_seq_acked, m.read_seq());
  if (progress.state == ProgressState::probe) progress.probe_sent = false;
  if (progress.state == ProgressState::replicate &&
      progress.inflight.size() >= config_.max_inflight_appends) {
    progress.inflight.pop_front();  // an append may have been lost: let one more through
  }
  if (progress.match < log_.last_index()) maybe_send_append(from, progress, true);  // probes
  advance_reads();
  OMNI_ASSERT(progress.read_seq_acked <= read_seq_, "a round is acknowledged after it is sent");
}

bool Raft::committed_in_current_term() const {
  return log_.matches(commit_, term_);
}

// Commits the largest index a quorum holds, but only an entry of the current term (figure 8).
bool Raft::maybe_advance_commit() {
  OMNI_ASSERT(role_ == Role::leader);
  if (!promotable()) return false;
  // No voter matches beyond our log, so a quorum cannot hold more than it: when everything is
  // committed (every heartbeat round of an idle plane) there is nothing to count.
  if (log_.last_index() <= commit_) return false;
  std::vector<Index>& matches = matches_scratch_;
  matches.clear();
  for (std::size_t i = 0; i < voters_.size(); ++i) {
    const Progress* peer = voter_progress_[i];
    OMNI_ASSERT((peer == nullptr) == (i == self_voter_index_), "a leader tracks every voter");
    // A recovering voter's acknowledgment is not counted: it may lack what it acknowledged.
    matches.push_back(peer == nullptr ? log_.last_index() : peer->recovering ? 0 : peer->match);
  }
  const Index candidate = quorum_index(matches);
  if (candidate <= commit_ || !log_.matches(candidate, term_)) return false;
  const bool first_in_term = !committed_in_current_term();
  OMNI_ASSERT(candidate <= log_.last_index(), "a quorum index is in our log");
  commit_to(candidate);
  OMNI_ASSERT(commit_ == candidate && commit_ <= log_.last_index());
  if (first_in_term) start_read_round();
  return true;
}

// Read-index -----------------------------------------------------------------------------------

// Gives every waiting read the current commit index and a new heartbeat round; a read is
// confirmed once a quorum answers a heartbeat of that round or a later one.
void Raft::start_read_round() {
  OMNI_ASSERT(role_ == Role::leader && committed_in_current_term());
  bool any = false;
  for (PendingRead& read : pending_reads_) {
    if (read.seq != 0) continue;
    if (!any) read_seq_ += 1;
    any = true;
    read.index = commit_;
    read.seq = read_seq_;
  }
  if (!any) return;
  OMNI_ASSERT(pending_reads_.back().seq == read_seq_);
  if (voters_.size() > 1) broadcast_heartbeat();
  advance_reads();
}

void Raft::advance_reads() {
  OMNI_ASSERT(role_ == Role::leader);
  while (!pending_reads_.empty() && pending_reads_.front().seq != 0) {
    const PendingRead& read = pending_reads_.front();
    std::size_t acks = promotable() ? 1 : 0;
    for (const Progress* peer : voter_progress_) {
      if (peer != nullptr && peer->read_seq_acked >= read.seq) acks += 1;
    }
    if (acks < quorum_of(voters_.size()) && !config_.testing_read_index_without_quorum) break;
    OMNI_ASSERT(read.index <= commit_);
    read_states_.push_back(ReadState{read.context, read.index, true});
    pending_reads_.pop_front();
  }
}

void Raft::fail_pending_reads() {
  for (const PendingRead& read : pending_reads_) {
    read_states_.push_back(ReadState{read.context, 0, false});
  }
  pending_reads_.clear();
  OMNI_ASSERT(pending_reads_.empty());
}

// Membership and transfer ------------------------------------------------------------------

void Raft::maybe_send_timeout_now(const NodeId& peer) {
  OMNI_ASSERT(role_ == Role::leader && peer == transferee_);
  if (progress_.at(peer).match != log_.last_index()) return;
  RaftMessage m;
  m.set_type(v1::RAFT_MESSAGE_TYPE_TIMEOUT_NOW);
  send(peer, std::move(m));
}

void Raft::reset_progress() {
  OMNI_ASSERT(role_ == Role::leader);
  std::map<NodeId, Progress> next;
  for (const auto* members : {&voters_, &learners_}) {
    for (const NodeId& peer : *members) {
      if (peer == id_) continue;
      auto it = progress_.find(peer);
      if (it != progress_.end()) {
        next.emplace(peer, it->second);
        continue;
      }
      Progress progress;
      progress.next = log_.last_index() + 1;
      progress.last_heard_at = now_;
      next.emplace(peer, progress);
    }
  }
  progress_ = std::move(next);
  index_voters();
  OMNI_ASSERT(progress_.size() <= voters_.size() + learners_.size());
}

// A configuration takes effect when its entry is applied (etcd's approach); one at a time.
void Raft::apply_conf(const v1::RaftConfState& conf) {
  set_members(conf);
  if (role_ != Role::leader) return;
  if (!promotable()) {
    become_follower(term_, NodeId{});  // removed: step down and never campaign again
    return;
  }
  reset_progress();
  if (!transferee_.empty() && !contains(voters_, transferee_)) transferee_.clear();
  if (maybe_advance_commit()) broadcast_append();
  advance_reads();
  OMNI_ASSERT(role_ == Role::leader && contains(voters_, id_));
}

}  // namespace omni::raft
