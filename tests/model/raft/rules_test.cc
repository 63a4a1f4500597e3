// Table-driven rules of the Raft paper's figure 2 and figure 8, pre-vote and check-quorum,
// each case read as: state + input -> expected outputs and state.
#include <gtest/gtest.h>

#include "tests/model/raft/single.h"

namespace omni::raft::testing {
namespace {

using v1::RaftMessage;

// Figure 2, RequestVote receiver ------------------------------------------------------------

enum class Answer { grant, reject, none };

struct VoteCase {
  const char* name;
  Term term;              // the voter's current term
  NodeId vote;            // whom it voted for in that term
  std::vector<Term> log;  // terms of entries 2, 3, ... (entry 1 is term 1)
  Term request_term;      // the candidate "b"'s term
  Index request_last_index;
  Term request_last_term;
  Answer answer;
  Term term_after;
  NodeId vote_after;
  bool grant_multiple_votes = false;  // the test-only fault knob
};

TEST(RaftRules, Figure2VoteGranting) {
  const std::vector<VoteCase> cases = {
      {"higher term, log as up to date: grant", 2, "", {1, 2}, 3, 3, 2, Answer::grant, 3, "b"},
      {"higher term, longer log of a later term: grant",
       2,
       "",
       {1, 2},
       3,
       2,
       3,
       Answer::grant,
       3,
       "b"},
      {"higher term, older last term: reject, adopt term",
       2,
       "",
       {1, 2},
       3,
       9,
       1,
       Answer::reject,
       3,
       ""},
      {"same last term, shorter log: reject", 2, "", {1, 2}, 3, 2, 2, Answer::reject, 3, ""},
      {"already voted for another this term: reject",
       2,
       "c",
       {1, 2},
       2,
       3,
       2,
       Answer::reject,
       2,
       "c"},
      {"repeated request from our candidate: grant",
       2,
       "b",
       {1, 2},
       2,
       3,
       2,
       Answer::grant,
       2,
       "b"},
      {"lower term: ignored", 3, "", {1, 2}, 2, 3, 2, Answer::none, 3, ""},
      {"TEST ONLY knob grants a second vote in a term",
       2,
       "c",
       {1, 2},
       2,
       3,
       2,
       Answer::grant,
       2,
       "b",
       true},
  };
  for (const VoteCase& c : cases) {
    SCOPED_TRACE(c.name);
    RaftConfig config = test_config();
    config.testing_grant_multiple_votes_per_term = c.grant_multiple_votes;
    Raft raft = make_raft("a", c.log, c.term, c.vote, 1, config);
    RaftMessage request = message(v1::RAFT_MESSAGE_TYPE_VOTE, c.request_term);
    request.set_index(c.request_last_index);
    request.set_log_term(c.request_last_term);
    Outputs out;
    raft.step(t0, "b", request, out);
    const auto answers = sends_of_type(out, v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE);
    if (c.answer == Answer::none) {
      EXPECT_TRUE(answers.empty());
    } else {
      ASSERT_EQ(answers.size(), 1u);
      EXPECT_EQ(answers[0].reject(), c.answer == Answer::reject);
    }
    EXPECT_EQ(raft.term(), c.term_after);
    EXPECT_EQ(raft.vote(), c.vote_after);
    EXPECT_TRUE(persists_precede_sends(out));
    if (c.answer == Answer::grant && c.vote != "b") {
      EXPECT_TRUE(has_persist(out));
    }
  }
}

// Figure 2, AppendEntries receiver -----------------------------------------------------------

struct AppendCase {
  const char* name;
  Term message_term;
  Index prev_index;
  Term prev_term;
  std::vector<std::pair<Index, Term>> entries;
  Index leader_commit;
  bool reject;
  Index answer_index;
  std::vector<Term> log_after;  // terms of entries 2, 3, ...
  Index commit_after;
  Term term_after;
};

TEST(RaftRules, Figure2AppendEntries) {
  // The follower "a": term 2, entries 2 and 3 with terms 1 and 2, commit 1.
  const std::vector<AppendCase> cases = {
      {"matching previous entry: append", 2, 3, 2, {{4, 2}}, 3, false, 4, {1, 2, 2}, 3, 2},
      {"previous index beyond our log: reject", 2, 5, 2, {{6, 2}}, 3, true, 5, {1, 2}, 1, 2},
      {"previous term mismatch: reject", 2, 3, 1, {{4, 2}}, 3, true, 3, {1, 2}, 1, 2},
      {"conflicting entry: truncate it and all after",
       3,
       2,
       1,
       {{3, 3}, {4, 3}},
       1,
       false,
       4,
       {1, 3, 3},
       1,
       3},
      {"entries already held: keep the log", 2, 1, 1, {{2, 1}}, 1, false, 2, {1, 2}, 1, 2},
      {"commit is min(leader commit, last new entry)", 2, 2, 1, {}, 10, false, 2, {1, 2}, 2, 2},
      {"higher term: adopt it", 5, 3, 2, {}, 3, false, 3, {1, 2}, 3, 5},
      {"lower term: answer with ours, change nothing",
       1,
       3,
       1,
       {{4, 1}},
       3,
       false,
       0,
       {1, 2},
       1,
       2},
  };
  for (const AppendCase& c : cases) {
    SCOPED_TRACE(c.name);
    Raft raft = make_raft("a", {1, 2}, 2);
    RaftMessage append = message(v1::RAFT_MESSAGE_TYPE_APPEND, c.message_term);
    append.set_index(c.prev_index);
    append.set_log_term(c.prev_term);
    append.set_commit(c.leader_commit);
    for (auto [index, term] : c.entries) *append.add_entries() = entry_of(index, term);
    Outputs out;
    raft.step(t0, "b", append, out);
    const auto answers = sends_of_type(out, v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE);
    ASSERT_EQ(answers.size(), 1u);
    EXPECT_EQ(answers[0].reject(), c.reject);
    EXPECT_EQ(answers[0].index(), c.answer_index);
    EXPECT_EQ(answers[0].term(), c.term_after);
    if (c.reject) {
      EXPECT_EQ(answers[0].reject_hint(), std::min<Index>(c.prev_index, 3));
    }
    EXPECT_EQ(log_terms(raft), c.log_after);
    EXPECT_EQ(raft.commit_index(), c.commit_after);
    EXPECT_EQ(raft.term(), c.term_after);
    EXPECT_TRUE(persists_precede_sends(out));
  }
}

// A member's message is input like any other: one no sound leader sends is dropped and counted
// before it reaches a rule that assumes soundness, and changes nothing.
TEST(RaftRules, MalformedMessagesFromMembersAreDroppedAndCounted) {
  struct Case {
    std::string name;
    RaftMessage m;
  };
  const auto append = [](Index prev, Term prev_term, std::vector<std::pair<Index, Term>> entries) {
    RaftMessage m = message(v1::RAFT_MESSAGE_TYPE_APPEND, 2);
    m.set_index(prev);
    m.set_log_term(prev_term);
    m.set_commit(1);
    for (auto [index, term] : entries) *m.add_entries() = entry_of(index, term);
    return m;
  };
  RaftMessage no_snapshot = message(v1::RAFT_MESSAGE_TYPE_INSTALL_SNAPSHOT, 2);
  RaftMessage future_snapshot = no_snapshot;
  future_snapshot.mutable_snapshot()->set_index(9);
  future_snapshot.mutable_snapshot()->set_term(3);
  RaftMessage huge_commit = message(v1::RAFT_MESSAGE_TYPE_HEARTBEAT, 2);
  huge_commit.set_commit(~Index{0});
  const auto snapshot_with = [](std::vector<NodeId> voters, std::vector<NodeId> learners) {
    RaftMessage m = message(v1::RAFT_MESSAGE_TYPE_INSTALL_SNAPSHOT, 2);
    m.mutable_snapshot()->set_index(10);
    m.mutable_snapshot()->set_term(2);
    for (const NodeId& v : voters) m.mutable_snapshot()->mutable_conf()->add_voters(v);
    for (const NodeId& l : learners) m.mutable_snapshot()->mutable_conf()->add_learners(l);
    return m;
  };
  // Committed at once (commit 4), so a replica that took it would apply it in the same step.
  RaftMessage unsorted_conf_entry = append(3, 2, {{4, 2}});
  unsorted_conf_entry.set_commit(4);
  unsorted_conf_entry.mutable_entries(0)->set_type(v1::RAFT_ENTRY_TYPE_CONF);
  unsorted_conf_entry.mutable_entries(0)->mutable_conf()->add_voters("c");
  unsorted_conf_entry.mutable_entries(0)->mutable_conf()->add_voters("a");
  RaftMessage empty_conf_entry = unsorted_conf_entry;
  empty_conf_entry.mutable_entries(0)->clear_conf();
  RaftMessage vote_from_the_future = message(v1::RAFT_MESSAGE_TYPE_VOTE, 3);
  vote_from_the_future.set_index(3);
  vote_from_the_future.set_log_term(4);
  const std::vector<Case> cases{
      {"a term at the top of the range (the next campaign wrapped it to 0)",
       message(v1::RAFT_MESSAGE_TYPE_TIMEOUT_NOW, ~Term{0})},
      {"a term just past the bound", message(v1::RAFT_MESSAGE_TYPE_HEARTBEAT, Raft::kMaxTerm + 1)},
      {"a snapshot whose voters are not sorted", snapshot_with({"c", "a"}, {})},
      {"a snapshot naming a voter twice", snapshot_with({"a", "b", "b", "c", "d"}, {})},
      {"a snapshot where a learner votes too", snapshot_with({"a", "b"}, {"b"})},
      {"a snapshot without voters", snapshot_with({}, {})},
      {"a snapshot naming nobody", snapshot_with({"", "a"}, {})},
      {"a configuration entry whose voters are not sorted", unsorted_conf_entry},
      {"a configuration entry without a configuration", empty_conf_entry},
      {"a vote for a log whose last entry is from a later term", vote_from_the_future},
      {"a message of no type a replica sends", message(static_cast<v1::RaftMessageType>(99), 3)},
      {"an unspecified type", message(v1::RAFT_MESSAGE_TYPE_UNSPECIFIED, 3)},
      {"a gap between entries", append(3, 2, {{4, 2}, {6, 2}})},
      {"an entry that does not follow the previous one", append(3, 2, {{5, 2}})},
      {"an entry from a later term than the message", append(3, 2, {{4, 3}})},
      {"terms that go down", append(3, 2, {{4, 2}, {5, 1}})},
      {"a previous entry from a later term", append(3, 3, {})},
      {"a snapshot message without a snapshot", no_snapshot},
      {"a snapshot from a later term", future_snapshot},
      {"an index past any log", huge_commit},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_FALSE(Raft::message_problem(c.m).empty());
    Raft raft = make_raft("a", {1, 2}, 2);
    Outputs out;
    raft.step(t0, "b", c.m, out);
    EXPECT_EQ(raft.malformed_messages(), 1u);
    EXPECT_EQ(log_terms(raft), (std::vector<Term>{1, 2}));
    EXPECT_EQ(raft.commit_index(), 1u);
    EXPECT_EQ(raft.term(), 2u);
    EXPECT_EQ(raft.voters(), (std::vector<NodeId>{"a", "b", "c"}));
    EXPECT_TRUE(sends_of(out).empty()) << "nothing is answered";
  }
  EXPECT_TRUE(Raft::message_problem(append(3, 2, {{4, 2}, {5, 2}})).empty()) << "a sound append";
  EXPECT_TRUE(Raft::message_problem(snapshot_with({"a", "b", "c"}, {"d"})).empty())
      << "a sound snapshot";
}

// A leader at term 2 holding entries 1 (the configuration) and 2 (its no-op), both committed and
// compacted into a snapshot when `compacted`; "b" answered the no-op, so it is replicated to.
Raft leader_with_replicated_peer(bool compacted) {
  Raft raft = make_raft("a", {}, 1);
  Time now = t0;
  elect(raft, now);
  Outputs out;
  RaftMessage ack = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, raft.term());
  ack.set_index(raft.log().last_index());
  raft.step(now, "b", ack, out);
  EXPECT_EQ(raft.progress().at("b").state, ProgressState::replicate);
  EXPECT_EQ(raft.commit_index(), 2u);
  raft.mark_applied(raft.commit_index(), out);
  if (compacted) raft.compact(std::string(1000, 's'), out);
  return raft;
}

// Answers that claim entries past the leader's log or a read round it never sent tripped its
// assertions (a match beyond the log, a snapshot it did not have), or made it send its whole
// snapshot for each small reject: dropped and counted instead.
TEST(RaftRules, ALeaderDropsAnswersNoSoundPeerSends) {
  RaftMessage past_log = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, 2);
  past_log.set_index(1000);
  RaftMessage reject_past_log = past_log;
  reject_past_log.set_reject(true);
  reject_past_log.set_reject_hint(1000);
  RaftMessage just_past = past_log;
  just_past.set_index(3);
  RaftMessage unsent_read = message(v1::RAFT_MESSAGE_TYPE_HEARTBEAT_RESPONSE, 2);
  unsent_read.set_read_seq(~std::uint64_t{0});
  for (const bool compacted : {false, true}) {
    for (const RaftMessage& m : {past_log, reject_past_log, just_past, unsent_read}) {
      SCOPED_TRACE(m.ShortDebugString() + (compacted ? " (compacted)" : ""));
      Raft raft = leader_with_replicated_peer(compacted);
      Outputs out;
      EXPECT_NO_THROW(raft.step(t0 + std::chrono::seconds(1), "b", m, out));
      EXPECT_EQ(raft.malformed_messages(), 1u);
      EXPECT_EQ(raft.role(), Role::leader);
      EXPECT_EQ(raft.progress().at("b").match, 2u);
      EXPECT_EQ(raft.commit_index(), 2u);
      EXPECT_TRUE(sends_of_type(out, v1::RAFT_MESSAGE_TYPE_INSTALL_SNAPSHOT).empty());
    }
  }
}

// Leadership transfer skips pre-vote and every replica's lease: only the leader may ask for it.
TEST(RaftRules, TimeoutNowIsTakenOnlyFromTheLeaderFollowed) {
  Raft raft = make_raft("a", {1, 2}, 2);
  Outputs out;
  raft.step(t0, "c", message(v1::RAFT_MESSAGE_TYPE_HEARTBEAT, 2), out);
  ASSERT_EQ(raft.leader(), "c");
  raft.step(t0, "b", message(v1::RAFT_MESSAGE_TYPE_TIMEOUT_NOW, 2), out);
  EXPECT_EQ(raft.role(), Role::follower);
  EXPECT_EQ(raft.term(), 2u);
  raft.step(t0, "c", message(v1::RAFT_MESSAGE_TYPE_TIMEOUT_NOW, 2), out);
  EXPECT_EQ(raft.role(), Role::candidate);
  EXPECT_EQ(raft.term(), 3u);
}

// Term update on a higher term, for every role ----------------------------------------------

TEST(RaftRules, HigherTermTurnsAnyRoleIntoFollower) {
  for (Role role : {Role::pre_candidate, Role::candidate, Role::leader}) {
    SCOPED_TRACE(role_name(role));
    Raft raft = make_raft("a", {}, 1);
    Time now = t0;
    Outputs out;
    if (role == Role::leader) {
      elect(raft, now);
    } else {
      now += std::chrono::milliseconds(250);
      raft.tick(now, out);
      if (role == Role::candidate) {
        raft.step(now, "c", message(v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE, raft.term() + 1), out);
      }
    }
    ASSERT_EQ(raft.role(), role);
    const Term higher = raft.term() + 5;
    out.clear();
    raft.step(now, "c", message(v1::RAFT_MESSAGE_TYPE_HEARTBEAT, higher), out);
    EXPECT_EQ(raft.role(), Role::follower);
    EXPECT_EQ(raft.term(), higher);
    EXPECT_EQ(raft.leader(), "c");
    EXPECT_TRUE(raft.vote().empty());
  }
}

// Commitment ---------------------------------------------------------------------------------

// Figure 8: a leader of term 4 holding an entry of term 2 on a majority must not commit it by
// counting replicas; it commits only once an entry of its own term reaches a majority.
TEST(RaftRules, Figure8LeaderDoesNotCommitPreviousTermEntryByCounting) {
  Raft raft = make_raft("a", {2}, 3, "a");  // entry 2 from term 2, uncommitted
  Time now = t0;
  elect(raft, now);
  ASSERT_EQ(raft.term(), 4u);
  ASSERT_EQ(raft.log().last_index(), 3u);  // the leader's no-op of term 4
  Outputs out;
  RaftMessage ack = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, 4);
  ack.set_index(2);  // b holds entry 2 (term 2): a majority {a, b} holds it
  raft.step(now, "b", ack, out);
  EXPECT_EQ(raft.commit_index(), 1u) << "entry 2 is from term 2: not committed by counting";
  ack.set_index(3);
  raft.step(now, "b", ack, out);
  EXPECT_EQ(raft.commit_index(), 3u) << "the term-4 entry commits, and entry 2 with it";
}

TEST(RaftRules, CommitNeedsAMajorityNotJustOneReplica) {
  Raft raft("a", {"a", "b", "c", "d", "e"}, test_config(), Rng(3));
  Outputs out;
  raft.start(t0, {}, out);
  raft.mark_applied(1, out);
  Time now = t0 + std::chrono::milliseconds(250);
  raft.tick(now, out);
  for (const char* peer : {"b", "c"}) {
    raft.step(now, peer, message(v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE, 2), out);
  }
  for (const char* peer : {"b", "c"}) {
    raft.step(now, peer, message(v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE, 2), out);
  }
  ASSERT_EQ(raft.role(), Role::leader);
  RaftMessage ack = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, 2);
  ack.set_index(2);
  raft.step(now, "b", ack, out);
  EXPECT_EQ(raft.commit_index(), 1u) << "2 of 5 is not a majority";
  raft.step(now, "c", ack, out);
  EXPECT_EQ(raft.commit_index(), 2u) << "3 of 5 is";
}

// Pre-vote -----------------------------------------------------------------------------------

TEST(RaftRules, PreVoteDoesNotBumpTerms) {
  Raft candidate = make_raft("a", {}, 1);
  Outputs out;
  candidate.tick(t0 + std::chrono::milliseconds(250), out);
  EXPECT_EQ(candidate.role(), Role::pre_candidate);
  EXPECT_EQ(candidate.term(), 1u) << "a pre-candidate keeps its term";
  EXPECT_FALSE(has_persist(out)) << "nothing durable changes";
  const auto requests = sends_of_type(out, v1::RAFT_MESSAGE_TYPE_PRE_VOTE);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].term(), 2u) << "asks about the term it would campaign in";

  Raft voter = make_raft("b", {}, 1);
  out.clear();
  voter.step(t0, "a", requests[0], out);
  const auto answers = sends_of_type(out, v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_FALSE(answers[0].reject());
  EXPECT_EQ(voter.term(), 1u) << "granting a pre-vote changes neither term";
  EXPECT_TRUE(voter.vote().empty()) << "nor vote";
}

TEST(RaftRules, PreVoteRejectedWhileALeaderIsHeard) {
  Raft voter = make_raft("b", {}, 1);
  Outputs out;
  RaftMessage heartbeat = message(v1::RAFT_MESSAGE_TYPE_HEARTBEAT, 1);
  voter.step(t0, "c", heartbeat, out);  // c leads term 1
  RaftMessage pre = message(v1::RAFT_MESSAGE_TYPE_PRE_VOTE, 2);
  pre.set_index(1);
  pre.set_log_term(1);
  out.clear();
  voter.step(t0 + std::chrono::milliseconds(10), "a", pre, out);
  const auto answers = sends_of_type(out, v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE);
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_TRUE(answers[0].reject()) << "within the lease the leader is alive";
}

// Check-quorum -------------------------------------------------------------------------------

TEST(RaftRules, CheckQuorumLeaderStepsDownWithinOneElectionTimeout) {
  Raft raft = make_raft("a", {}, 1);
  Time now = t0;
  elect(raft, now);
  const Time last_heard = now;  // b voted at `now`; nobody answers afterwards
  Outputs out;
  for (int i = 0; i < 1000 && raft.role() == Role::leader; ++i) {
    now += std::chrono::milliseconds(5);
    raft.tick(now, out);
  }
  EXPECT_EQ(raft.role(), Role::follower);
  EXPECT_LE(now - last_heard, test_config().election_timeout_min + std::chrono::milliseconds(5));
  EXPECT_EQ(raft.term(), 2u) << "stepping down keeps the term";
}

TEST(RaftRules, CheckQuorumLeaderStaysWhileAMajorityAnswers) {
  Raft raft = make_raft("a", {}, 1);
  Time now = t0;
  elect(raft, now);
  Outputs out;
  for (int i = 0; i < 200; ++i) {
    now += std::chrono::milliseconds(5);
    raft.tick(now, out);
    raft.step(now, "b", message(v1::RAFT_MESSAGE_TYPE_HEARTBEAT_RESPONSE, raft.term()), out);
  }
  EXPECT_EQ(raft.role(), Role::leader);
}

// Bounded in-flight appends ------------------------------------------------------------------

TEST(RaftRules, InflightAppendsAreBounded) {
  RaftConfig config = test_config();
  config.max_inflight_appends = 2;
  config.max_entries_per_append = 3;
  Raft raft = make_raft("a", {}, 1, "", 1, config);
  Time now = t0;
  elect(raft, now);
  Outputs out;
  RaftMessage ack = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, raft.term());
  ack.set_index(raft.log().last_index());
  raft.step(now, "b", ack, out);  // b switches to replicate
  out.clear();
  for (int i = 0; i < 20; ++i) raft.propose(now, std::string("p").append(std::to_string(i)), out);
  std::size_t appends_to_b = 0;
  for (auto& [to, m] : sends_of(out)) {
    if (to == "b" && m.type() == v1::RAFT_MESSAGE_TYPE_APPEND) {
      appends_to_b += 1;
      EXPECT_LE(m.entries_size(), 3);
    }
  }
  EXPECT_EQ(appends_to_b, 2u) << "no more than max_inflight_appends unacknowledged";
  EXPECT_EQ(raft.progress().at("b").inflight.size(), 2u);
}

}  // namespace
}  // namespace omni::raft::testing
