// Raft: inputs, elections and the follower side of replication. The leader side is in
// raft_leader.cc, durability and outputs in raft_storage.cc.
#include "model/raft/raft.h"

#include <algorithm>

#include "model/core/assert.h"

namespace omni::raft {

using v1::RaftMessage;

Raft::Raft(NodeId id, std::vector<NodeId> initial_voters, RaftConfig config, Rng rng)
    : id_(std::move(id)), initial_voters_(std::move(initial_voters)), config_(config), rng_(rng) {
  std::sort(initial_voters_.begin(), initial_voters_.end());
  initial_voters_.erase(std::unique(initial_voters_.begin(), initial_voters_.end()),
                        initial_voters_.end());
  OMNI_ASSERT(!id_.empty(), "a replica needs an id");
  OMNI_ASSERT(config_.election_timeout_min > config_.heartbeat_interval &&
                  config_.election_timeout_max >= config_.election_timeout_min,
              "heartbeat_interval < election_timeout_min <= election_timeout_max");
  OMNI_ASSERT(config_.max_entries_per_append > 0 && config_.max_inflight_appends > 0);
}

v1::RaftConfState Raft::conf() const {
  v1::RaftConfState conf;
  for (const NodeId& voter : voters_) conf.add_voters(voter);
  for (const NodeId& learner : learners_) conf.add_learners(learner);
  return conf;
}

// What makes a message from a member one this replica cannot act on, or empty. A sound leader
// never sends these; a buggy or damaged one must cost a dropped message, not every replica.
std::string Raft::message_problem(const RaftMessage& m) {
  if (m.index() > kMaxIndex || m.commit() > kMaxIndex) return "an index past any log";
  // A term at the top of the range would wrap to 0 at the next campaign.
  if (m.term() > kMaxTerm) return "a term past any election";
  switch (m.type()) {
    case v1::RAFT_MESSAGE_TYPE_PRE_VOTE:
    case v1::RAFT_MESSAGE_TYPE_VOTE:
      if (m.log_term() > m.term()) return "a candidate's last entry from a later term";
      return {};
    case v1::RAFT_MESSAGE_TYPE_APPEND:
      return append_problem(m);
    case v1::RAFT_MESSAGE_TYPE_INSTALL_SNAPSHOT:
      if (!m.has_snapshot() || m.snapshot().term() > m.term() || m.snapshot().index() == 0 ||
          m.snapshot().index() > kMaxIndex)
        return "a snapshot that cannot be installed";
      return conf_problem(m.snapshot().conf());
    case v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE:
    case v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE:
    case v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE:
    case v1::RAFT_MESSAGE_TYPE_HEARTBEAT:
    case v1::RAFT_MESSAGE_TYPE_HEARTBEAT_RESPONSE:
    case v1::RAFT_MESSAGE_TYPE_TIMEOUT_NOW:
      return {};
    default:  // with a higher term it would depose a leader, and nothing else could come of it
      return "a message of no type a replica sends";
  }
}

std::string Raft::append_problem(const RaftMessage& m) {
  OMNI_ASSERT(m.type() == v1::RAFT_MESSAGE_TYPE_APPEND);
  if (m.log_term() > m.term()) return "a previous entry from a later term";
  if (static_cast<std::size_t>(m.entries_size()) > kMaxEntriesPerMessage)
    return "more entries than one message may carry";
  Index expected = m.index() + 1;
  Term previous = m.log_term();  // a log's terms never go down
  for (const v1::RaftEntry& entry : m.entries()) {
    if (entry.index() != expected++) return "entries that are not contiguous";
    if (entry.term() > m.term() || entry.term() < previous)
      return "an entry whose term is out of order";
    previous = entry.term();
    // Applied later, by every replica that commits it: checked before it is in any log.
    if (entry.type() == v1::RAFT_ENTRY_TYPE_CONF) {
      if (std::string problem = conf_problem(entry.conf()); !problem.empty()) return problem;
    }
  }
  OMNI_ASSERT(expected == m.index() + 1 + static_cast<Index>(m.entries_size()));
  return {};
}

std::string Raft::conf_problem(const v1::RaftConfState& conf) {
  const auto strictly_sorted = [](const auto& names) {
    for (int i = 0; i < names.size(); ++i) {
      if (names[i].empty()) return false;
      if (i > 0 && !(names[i - 1] < names[i])) return false;
    }
    return true;
  };
  if (conf.voters().empty()) return "a configuration without voters";
  // A voter named twice would be counted twice in every quorum.
  if (!strictly_sorted(conf.voters()) || !strictly_sorted(conf.learners()))
    return "a configuration whose members are not sorted, or named twice";
  for (const std::string& learner : conf.learners()) {
    if (std::binary_search(conf.voters().begin(), conf.voters().end(), learner))
      return "a configuration where a learner is also a voter";
  }
  return {};
}

const char* Raft::answer_problem(const RaftMessage& m) const {
  OMNI_ASSERT(role_ == Role::leader && m.term() == term_);
  // A follower's index only ever comes from what we sent; past our log, it would become a match
  // no entry backs (and a reject there would send a snapshot for each such answer).
  if (m.type() == v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE && m.index() > log_.last_index())
    return "an answer about entries past our log";
  if (m.type() == v1::RAFT_MESSAGE_TYPE_HEARTBEAT_RESPONSE && m.read_seq() > read_seq_)
    return "an answer to a read round not sent yet";
  OMNI_ASSERT(log_.last_index() >= commit_);
  return nullptr;
}

// Inputs --------------------------------------------------------------------------------------

void Raft::tick(Time now, Outputs& out) {
  OMNI_ASSERT(started_, "tick before start");
  advance_clock(now);
  const Term term_before = term_;
  if (role_ == Role::leader) {
    tick_leader();
  } else {
    tick_election();
  }
  OMNI_ASSERT(term_ >= term_before, "terms never decrease");
  flush(out);
}

void Raft::tick_election() {
  OMNI_ASSERT(role_ != Role::leader);
  if (may_campaign() && now_ >= election_deadline_) campaign(false);
  OMNI_ASSERT(role_ != Role::leader || voters_.size() == 1, "only a lone voter wins at once");
}

void Raft::step(Time now, const NodeId& from, const RaftMessage& m, Outputs& out) {
  OMNI_ASSERT(started_, "step before start");
  OMNI_ASSERT(m.type() != v1::RAFT_MESSAGE_TYPE_CLIENT_REQUEST &&
                  m.type() != v1::RAFT_MESSAGE_TYPE_CLIENT_REPLY,
              "client traffic is handled by RaftNode");
  advance_clock(now);
  if (!message_problem(m).empty()) {
    ++malformed_messages_;  // a member's bytes are input too: dropped, never asserted on
    flush(out);
    return;
  }
  const Term term_before = term_;
  if (m.term() > term_ && !accept_higher_term(from, m)) {
    flush(out);
    return;
  }
  if (m.term() < term_) {
    answer_lower_term(from, m);
    flush(out);
    return;
  }
  const bool future_term = m.type() == v1::RAFT_MESSAGE_TYPE_PRE_VOTE ||
                           m.type() == v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE;
  OMNI_ASSERT(m.term() == term_ || future_term, "a message is handled in its own term");
  if (m.type() == v1::RAFT_MESSAGE_TYPE_PRE_VOTE || m.type() == v1::RAFT_MESSAGE_TYPE_VOTE) {
    handle_vote_request(from, m);
  } else if (role_ == Role::leader) {
    step_leader(from, m);
  } else if (role_ == Role::follower) {
    step_follower(from, m);
  } else {
    step_candidate(from, m);
  }
  OMNI_ASSERT(term_ >= term_before, "terms never decrease");
  flush(out);
}

// Per-role reactions ---------------------------------------------------------------------------

void Raft::step_follower(const NodeId& from, const RaftMessage& m) {
  OMNI_ASSERT(role_ == Role::follower);
  OMNI_ASSERT(m.term() == term_ || m.type() == v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE);
  switch (m.type()) {
    case v1::RAFT_MESSAGE_TYPE_APPEND:
      handle_append(from, m);
      break;
    case v1::RAFT_MESSAGE_TYPE_HEARTBEAT:
      handle_heartbeat(from, m);
      break;
    case v1::RAFT_MESSAGE_TYPE_INSTALL_SNAPSHOT:
      handle_snapshot(from, m);
      break;
    case v1::RAFT_MESSAGE_TYPE_TIMEOUT_NOW:
      // Only from the leader we follow (whoever else sends it would skip every lease); a
      // recovering replica ignores it too.
      if (from == leader_ && may_campaign()) campaign(true);
      break;
    default:
      break;  // stale responses from an earlier role
  }
}

void Raft::step_candidate(const NodeId& from, const RaftMessage& m) {
  OMNI_ASSERT(role_ == Role::pre_candidate || role_ == Role::candidate);
  switch (m.type()) {
    case v1::RAFT_MESSAGE_TYPE_APPEND:
    case v1::RAFT_MESSAGE_TYPE_HEARTBEAT:
    case v1::RAFT_MESSAGE_TYPE_INSTALL_SNAPSHOT:
      OMNI_ASSERT(m.term() == term_);
      become_follower(term_, from);  // someone won this term
      step_follower(from, m);
      break;
    case v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE:
    case v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE:
      handle_vote_response(from, m);
      break;
    default:
      break;
  }
}

void Raft::step_leader(const NodeId& from, const RaftMessage& m) {
  OMNI_ASSERT(role_ == Role::leader && leader_ == id_);
  OMNI_ASSERT(m.term() == term_ || m.type() == v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE);
  auto it = progress_.find(from);
  if (it == progress_.end()) return;  // not (or no longer) a member
  if (m.term() == term_ && answer_problem(m) != nullptr) {
    ++malformed_messages_;
    return;
  }
  if (m.term() == term_ && answers_before_loss(it->second, m)) return;
  if (m.term() == term_) {
    // A recovering peer is alive but may have forgotten what it promised: it does not keep us
    // in power (check-quorum), and its acknowledgments count for nothing until it is caught up.
    it->second.recovering = m.recovering();
    if (!m.recovering()) it->second.last_heard_at = now_;
  }
  switch (m.type()) {
    case v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE:
      handle_append_response(from, it->second, m);
      break;
    case v1::RAFT_MESSAGE_TYPE_HEARTBEAT_RESPONSE:
      handle_heartbeat_response(from, it->second, m);
      break;
    default:
      break;  // another leader in our term is impossible unless votes were doubled
  }
}

// An answer to one of our appends that the peer sent before it lost records, arriving after
// one it sent as `recovering`: it may acknowledge entries the peer no longer holds (a reordered
// or delayed message). Answers echo the append they answer, and appends are numbered in order,
// so anything answering an append at or before the first `recovering` answer's is that old.
bool Raft::answers_before_loss(Progress& progress, const v1::RaftMessage& m) {
  OMNI_ASSERT(role_ == Role::leader && m.term() == term_);
  if (m.type() != v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE) return false;
  if (m.append_seq() > append_seq_) return true;  // answers no append of ours: not believed
  if (m.recovering()) {
    progress.recovering_since_seq = std::max(progress.recovering_since_seq, m.append_seq());
    return false;
  }
  const bool before =
      progress.recovering_since_seq > 0 && m.append_seq() <= progress.recovering_since_seq;
  OMNI_ASSERT(progress.recovering_since_seq <= append_seq_, "echoes of our own appends only");
  return before;
}

// Terms and elections --------------------------------------------------------------------------

// Returns false when the message must be ignored without changing our term.
bool Raft::accept_higher_term(const NodeId& from, const RaftMessage& m) {
  OMNI_ASSERT(m.term() > term_);
  switch (m.type()) {
    case v1::RAFT_MESSAGE_TYPE_PRE_VOTE:
      return true;  // pre-vote never bumps terms
    case v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE:
      if (!m.reject()) return true;  // a grant carries the term we would campaign in
      break;
    case v1::RAFT_MESSAGE_TYPE_VOTE:
      if (!m.transfer() && in_lease()) return false;  // a live leader: ignore the disruptor
      break;
    default:
      break;
  }
  const bool from_leader = m.type() == v1::RAFT_MESSAGE_TYPE_APPEND ||
                           m.type() == v1::RAFT_MESSAGE_TYPE_HEARTBEAT ||
                           m.type() == v1::RAFT_MESSAGE_TYPE_INSTALL_SNAPSHOT;
  become_follower(m.term(), from_leader ? from : NodeId{});
  OMNI_ASSERT(term_ == m.term() && role_ == Role::follower);
  return true;
}

void Raft::answer_lower_term(const NodeId& from, const RaftMessage& m) {
  OMNI_ASSERT(m.term() < term_);
  const bool from_stale_leader =
      m.type() == v1::RAFT_MESSAGE_TYPE_APPEND || m.type() == v1::RAFT_MESSAGE_TYPE_HEARTBEAT;
  if (from_stale_leader && (config_.check_quorum || config_.pre_vote)) {
    RaftMessage answer;  // our term makes the stale leader step down
    answer.set_type(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE);
    send(from, answer);
  } else if (m.type() == v1::RAFT_MESSAGE_TYPE_PRE_VOTE) {
    RaftMessage answer;
    answer.set_type(v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE);
    answer.set_reject(true);
    send(from, answer);
  }
  OMNI_ASSERT(outbox_.empty() || outbox_.back().raft().term() == term_);
}

void Raft::handle_vote_request(const NodeId& from, const RaftMessage& m) {
  const bool pre = m.type() == v1::RAFT_MESSAGE_TYPE_PRE_VOTE;
  OMNI_ASSERT(pre ? m.term() >= term_ : m.term() == term_);
  const bool can_vote = vote_ == from || (vote_.empty() && leader_.empty()) ||
                        (pre && m.term() > term_) || config_.testing_grant_multiple_votes_per_term;
  const bool lease_blocks = pre && !m.transfer() && in_lease();
  const bool up_to_date =
      log_up_to_date(m.log_term(), m.index(), log_.last_term(), log_.last_index());
  RaftMessage answer;
  answer.set_type(pre ? v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE
                      : v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE);
  // A recovering replica may have forgotten a vote or an acknowledged entry: it grants nothing,
  // not even a pre-vote, whatever the testing knob says.
  if (can_vote && up_to_date && !lease_blocks && !recovering_) {
    answer.set_term(m.term());
    if (!pre) {
      set_vote(from);  // persisted by flush() before the answer is sent
      reset_election_deadline();
    }
  } else {
    answer.set_term(term_);
    answer.set_reject(true);
  }
  OMNI_ASSERT(pre || answer.reject() || vote_ == from, "a granted vote is recorded");
  OMNI_ASSERT(!recovering_ || answer.reject(), "a recovering replica grants no (pre-)vote");
  send(from, answer);
}

void Raft::handle_vote_response(const NodeId& from, const RaftMessage& m) {
  const bool pre = role_ == Role::pre_candidate;
  const auto expected_type =
      pre ? v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE : v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE;
  if (m.type() != expected_type) return;
  const Term campaign_term = pre ? term_ + 1 : term_;
  if (!m.reject() && m.term() != campaign_term) return;  // a grant from an older campaign
  OMNI_ASSERT(m.reject() || m.term() == campaign_term);
  if (!contains(voters_, from)) return;
  votes_.emplace(from, !m.reject());
  const VoteResult result = vote_result(voters_, votes_);
  if (result == VoteResult::won) {
    if (pre) {
      become_candidate();
      send_vote_requests(false);
    } else {
      become_leader();
    }
  } else if (result == VoteResult::lost) {
    become_follower(term_, NodeId{});
  }
  OMNI_ASSERT(result != VoteResult::won || role_ >= Role::candidate);
}

void Raft::campaign(bool transfer) {
  OMNI_ASSERT(may_campaign(), "only a voter that is not recovering campaigns");
  OMNI_ASSERT(role_ != Role::leader);
  if (config_.pre_vote && !transfer) {
    become_pre_candidate();
  } else {
    become_candidate();
  }
  send_vote_requests(transfer);
}

// Asks every other voter for a (pre-)vote, for the campaign we are in.
void Raft::send_vote_requests(bool transfer) {
  if (role_ == Role::leader) return;  // a lone voter won at once
  OMNI_ASSERT(role_ == Role::pre_candidate || role_ == Role::candidate);
  const bool pre = role_ == Role::pre_candidate;
  OMNI_ASSERT(pre || vote_ == id_, "a candidate votes for itself first");
  for (const NodeId& voter : voters_) {
    if (voter == id_) continue;
    RaftMessage request;
    request.set_type(pre ? v1::RAFT_MESSAGE_TYPE_PRE_VOTE : v1::RAFT_MESSAGE_TYPE_VOTE);
    request.set_term(pre ? term_ + 1 : term_);
    request.set_index(log_.last_index());
    request.set_log_term(log_.last_term());
    request.set_transfer(transfer);
    send(voter, std::move(request));
  }
}

void Raft::set_vote(const NodeId& vote) {
  vote_ = vote;
  ++vote_version_;
  OMNI_ASSERT(vote_ == vote && vote_version_ != persisted_vote_version_);
}

// Compares before it writes: a follower is told its leader by every heartbeat, and only a change
// moves leader_version().
void Raft::set_leader(const NodeId& leader) {
  if (leader_ == leader) return;
  const std::uint64_t version_before = leader_version_;
  leader_ = leader;
  ++leader_version_;
  OMNI_ASSERT(leader_version_ > version_before && leader_ == leader);
}

void Raft::become_follower(Term term, const NodeId& leader) {
  OMNI_ASSERT(term >= term_, "terms never decrease");
  if (term > term_) {
    term_ = term;
    set_vote({});
  }
  if (role_ == Role::leader) fail_pending_reads();
  role_ = Role::follower;
  set_leader(leader);
  if (!leader.empty()) leader_heard_at_ = now_;
  votes_.clear();
  progress_.clear();
  index_voters();
  transferee_.clear();
  reset_election_deadline();
  OMNI_ASSERT(leader_ != id_, "a follower does not follow itself");
}

void Raft::become_pre_candidate() {
  OMNI_ASSERT(role_ != Role::leader);
  role_ = Role::pre_candidate;
  set_leader({});
  votes_.clear();
  reset_election_deadline();
  votes_.emplace(id_, true);
  if (vote_result(voters_, votes_) == VoteResult::won) become_candidate();
}

void Raft::become_candidate() {
  OMNI_ASSERT(role_ != Role::leader);
  const Term term_before = term_;
  term_ += 1;
  set_vote(id_);  // persisted by flush() before any VOTE leaves
  role_ = Role::candidate;
  set_leader({});
  votes_.clear();
  reset_election_deadline();
  votes_.emplace(id_, true);
  OMNI_ASSERT(term_ == term_before + 1);
  if (vote_result(voters_, votes_) == VoteResult::won) become_leader();
}

void Raft::become_leader() {
  OMNI_ASSERT(role_ == Role::candidate, "only a candidate becomes leader");
  OMNI_ASSERT(vote_result(voters_, votes_) == VoteResult::won, "a leader has a quorum of votes");
  role_ = Role::leader;
  set_leader(id_);
  reset_progress();
  heartbeat_deadline_ = now_ + config_.heartbeat_interval;
  pending_conf_index_ = log_.last_index();  // no conf change before the old log is applied
  v1::RaftEntry noop;
  noop.set_term(term_);
  noop.set_index(log_.last_index() + 1);
  append_local(std::move(noop));
  broadcast_append();
}

bool Raft::promotable() const {
  return self_voter_index_ != kNotAVoter;
}

void Raft::set_members(const v1::RaftConfState& conf) {
  voters_.assign(conf.voters().begin(), conf.voters().end());
  learners_.assign(conf.learners().begin(), conf.learners().end());
  OMNI_ASSERT(std::is_sorted(voters_.begin(), voters_.end()) &&
              std::is_sorted(learners_.begin(), learners_.end()));
  ++membership_version_;
  index_voters();
}

void Raft::index_voters() {
  self_voter_index_ = kNotAVoter;
  voter_progress_.assign(voters_.size(), nullptr);
  for (std::size_t i = 0; i < voters_.size(); ++i) {
    if (voters_[i] == id_) {
      self_voter_index_ = i;
      continue;
    }
    const auto it = progress_.find(voters_[i]);
    if (it != progress_.end()) voter_progress_[i] = &it->second;
  }
  OMNI_ASSERT(voter_progress_.size() == voters_.size());
  OMNI_ASSERT((self_voter_index_ != kNotAVoter) == contains(voters_, id_));
}

bool Raft::may_campaign() const {
  return promotable() && !recovering_;
}

// With check-quorum, a replica that heard from a leader within the minimum election timeout
// refuses to help depose it (etcd's lease).
bool Raft::in_lease() const {
  if (!config_.check_quorum || leader_.empty()) return false;
  if (role_ == Role::leader) return true;  // check-quorum deposes a leader that lost its quorum
  return now_ < leader_heard_at_ + config_.election_timeout_min;
}

void Raft::reset_election_deadline() {
  const Duration timeout = rng_.between(config_.election_timeout_min, config_.election_timeout_max);
  OMNI_ASSERT(timeout >= config_.election_timeout_min && timeout <= config_.election_timeout_max);
  election_deadline_ = now_ + timeout;
}

// Follower side of replication --------------------------------------------------------------

void Raft::handle_append(const NodeId& from, const RaftMessage& m) {
  OMNI_ASSERT(role_ == Role::follower && m.term() == term_);
  set_leader(from);
  leader_heard_at_ = now_;
  reset_election_deadline();
  RaftMessage answer;
  answer.set_type(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE);
  answer.set_append_seq(m.append_seq());
  if (m.index() < commit_) {
    answer.set_index(commit_);  // already committed here: tell the leader where we are
  } else if (!log_.matches(m.index(), m.log_term())) {
    answer.set_reject(true);  // log consistency check failed
    answer.set_index(m.index());
    answer.set_reject_hint(std::min(m.index(), log_.last_index()));
  } else {
    append_after_conflict(m);
    const Index last_new = m.index() + static_cast<Index>(m.entries_size());
    commit_to(std::min<Index>(m.commit(), last_new));
    answer.set_index(last_new);
    if (recovering_) maybe_finish_recovery(from, m, last_new);
  }
  OMNI_ASSERT(commit_ <= log_.last_index(), "commit <= last index");
  send(from, answer);
}

void Raft::append_after_conflict(const RaftMessage& m) {
  Index expected = m.index() + 1;
  for (const v1::RaftEntry& entry : m.entries()) {
    OMNI_ASSERT(entry.index() == expected++, "append entries are contiguous");
    OMNI_ASSERT(entry.term() <= m.term(), "a leader sends no entry from a later term");
    const std::optional<Term> held = log_.term_at(entry.index());
    if (held.has_value() && *held == entry.term()) continue;  // already have it
    if (entry.index() <= log_.last_index()) {
      OMNI_ASSERT(entry.index() > commit_, "a committed entry is never overwritten");
      log_.truncate_from(entry.index());  // figure 2: delete the conflict and all after it
      unstable_from_ = std::min(unstable_from_, entry.index());
    }
    log_.append(entry);
  }
}

void Raft::handle_heartbeat(const NodeId& from, const RaftMessage& m) {
  OMNI_ASSERT(role_ == Role::follower && m.term() == term_);
  set_leader(from);
  leader_heard_at_ = now_;
  reset_election_deadline();
  // The leader sends min(match, commit). While we are recovering its match for us may predate
  // our data loss, so only an append (whose consistency check proves our log) advances commit.
  if (!recovering_) commit_to(std::min(m.commit(), log_.last_index()));
  RaftMessage& answer = outgoing(from);
  answer.set_type(v1::RAFT_MESSAGE_TYPE_HEARTBEAT_RESPONSE);
  answer.set_read_seq(m.read_seq());
  answer.set_index(log_.last_index());
  OMNI_ASSERT(commit_ <= log_.last_index());
}

void Raft::handle_snapshot(const NodeId& from, const RaftMessage& m) {
  OMNI_ASSERT(role_ == Role::follower && m.term() == term_);
  OMNI_ASSERT(m.has_snapshot() && m.snapshot().term() <= term_);
  set_leader(from);
  leader_heard_at_ = now_;
  reset_election_deadline();
  const v1::RaftSnapshot& snapshot = m.snapshot();
  RaftMessage answer;
  answer.set_type(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE);
  answer.set_append_seq(m.append_seq());
  if (snapshot.index() <= commit_) {
    answer.set_index(commit_);  // stale: we are already past it
  } else if (log_.matches(snapshot.index(), snapshot.term())) {
    commit_to(snapshot.index());  // we hold it all already: just commit
    answer.set_index(snapshot.index());
  } else {
    log_.compact_to(snapshot.index(), snapshot.term());
    commit_ = snapshot.index();
    applied_ = snapshot.index();
    snapshot_ = snapshot;
    snapshot_to_restore_ = snapshot;
    set_members(snapshot.conf());
    replace_pending_ = true;  // the whole new state in one record, before the answer
    unstable_from_ = log_.last_index() + 1;
    answer.set_index(snapshot.index());
  }
  OMNI_ASSERT(commit_ >= snapshot.index() && commit_ <= log_.last_index());
  send(from, answer);
}

// The end of a recovering state (docs/raft.md, "Recovery after data loss"). `m` is an append
// from `leader`, the leader of our current term (so of a term >= every term we know), that
// passed the consistency check and leaves our log equal to the leader's up to `last_new`. We
// are caught up when that covers the leader's commit index and the entry there is of the
// leader's term: the leader has committed in its term, so our log now holds every entry
// committed before this term and every entry of it the leader had committed when it sent `m`.
// Our vote in this term is pinned to the leader, so a vote forgotten in this very term cannot
// be granted twice. The cleared flag is persisted (flush) before the answer is sent.
void Raft::maybe_finish_recovery(const NodeId& leader, const RaftMessage& m, Index last_new) {
  OMNI_ASSERT(recovering_ && role_ == Role::follower && m.term() == term_);
  OMNI_ASSERT(last_new <= log_.last_index() && log_.matches(m.index(), m.log_term()));
  const bool covers_commit = m.commit() > 0 && m.commit() <= last_new;
  if (!covers_commit || !log_.matches(m.commit(), m.term())) return;
  recovering_ = false;
  if (vote_.empty()) set_vote(leader);
  OMNI_ASSERT(!recovering_ && !vote_.empty());
}

void Raft::commit_to(Index index) {
  OMNI_ASSERT(index <= log_.last_index() || index <= commit_, "commit <= last index");
  const Index before = commit_;
  commit_ = std::max(commit_, index);
  OMNI_ASSERT(commit_ >= before, "commit never goes backwards");
}

}  // namespace omni::raft
