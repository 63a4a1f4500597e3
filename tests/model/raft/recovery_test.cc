// Recovery from persisted records (including torn and corrupt ones) and the durability
// contract: a Persist precedes every Send that depends on it.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <functional>
#include <memory>
#include <optional>

#include "model/core/sealed.h"
#include "tests/model/raft/single.h"

namespace omni::raft::testing {
namespace {

std::vector<std::string> persisted_records(const Outputs& out) {
  std::vector<std::string> records;
  for (const auto& output : out) {
    if (const auto* persist = std::get_if<Persist>(&output)) {
      if (persist->replace) records.clear();
      records.push_back(persist->record);
    }
  }
  return records;
}

// A follower that took part in a few steps, and the records it wrote.
struct History {
  std::vector<std::string> records;
  Term term = 0;
  NodeId vote;
  Index last_index = 0;
  Index commit = 0;
};

History follower_history() {
  Raft raft("b", {"a", "b", "c"}, test_config(), Rng(5));
  Outputs out;
  raft.start(t0, {}, out);
  raft.mark_applied(1, out);
  v1::RaftMessage vote = message(v1::RAFT_MESSAGE_TYPE_VOTE, 2);
  vote.set_index(1);
  vote.set_log_term(1);
  raft.step(t0, "a", vote, out);  // votes for a in term 2
  v1::RaftMessage append = message(v1::RAFT_MESSAGE_TYPE_APPEND, 2);
  append.set_index(1);
  append.set_log_term(1);
  *append.add_entries() = entry_of(2, 2);
  *append.add_entries() = entry_of(3, 2);
  append.set_commit(2);
  raft.step(t0, "a", append, out);
  return History{persisted_records(out), raft.term(), raft.vote(), raft.log().last_index(),
                 raft.commit_index()};
}

TEST(RaftRecovery, RebuildsHardStateAndLogFromRecords) {
  const History history = follower_history();
  ASSERT_GE(history.records.size(), 3u);
  Raft raft("b", {"a", "b", "c"}, test_config(), Rng(5));
  Outputs out;
  raft.start(t0, history.records, out);
  EXPECT_EQ(raft.term(), 2u);
  EXPECT_EQ(raft.vote(), "a");
  EXPECT_EQ(raft.log().last_index(), 3u);
  EXPECT_EQ(raft.commit_index(), 2u);
  EXPECT_EQ(raft.role(), Role::follower);
  EXPECT_FALSE(has_persist(out)) << "a clean recovery rewrites nothing";
}

enum class Damage { flip_last_byte, truncate_half, garbage, empty };

struct DamageCase {
  const char* name;
  Damage damage;
  std::size_t damaged;  // which record
};

TEST(RaftRecovery, StopsAtTheFirstBadRecordAndRewritesTheGoodPrefix) {
  const History history = follower_history();
  const std::size_t n = history.records.size();
  const std::vector<DamageCase> cases = {
      {"corrupt tail (bit flip)", Damage::flip_last_byte, n - 1},
      {"torn tail (half written)", Damage::truncate_half, n - 1},
      {"garbage in the middle hides the rest", Damage::garbage, 1},
      {"empty record", Damage::empty, n - 1},
  };
  for (const DamageCase& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::string> records = history.records;
    std::string& bad = records[c.damaged];
    switch (c.damage) {
      case Damage::flip_last_byte:
        bad.back() = static_cast<char>(bad.back() ^ 0x5a);
        break;
      case Damage::truncate_half:
        bad.resize(bad.size() / 2);
        break;
      case Damage::garbage:
        bad = "\xff\xfe not a record";
        break;
      case Damage::empty:
        bad.clear();
        break;
    }
    // What the good prefix alone recovers to.
    Raft expected("b", {"a", "b", "c"}, test_config(), Rng(5));
    Outputs ignored;
    expected.start(t0, std::vector<std::string>(records.begin(), records.begin() + c.damaged),
                   ignored);

    Raft raft("b", {"a", "b", "c"}, test_config(), Rng(5));
    Outputs out;
    ASSERT_NO_THROW(raft.start(t0, records, out));
    // The term and vote are promises, written twice: the good records after the bad one keep
    // them (AVoteSurvivesTheCorruptionOfAnyOneRecord).
    EXPECT_EQ(raft.term(), history.term);
    EXPECT_EQ(raft.vote(), history.vote);
    EXPECT_EQ(raft.log().last_index(), expected.log().last_index());
    EXPECT_EQ(raft.commit_index(), expected.commit_index());
    ASSERT_FALSE(out.empty());
    const auto* rewrite = std::get_if<Persist>(&out.front());
    ASSERT_NE(rewrite, nullptr);
    EXPECT_TRUE(rewrite->replace && rewrite->sync) << "the good prefix replaces the bad log";
  }
}

TEST(RaftRecovery, CompactionReplacesTheLogAndRestartRestoresTheSnapshot) {
  Raft raft = make_raft("a", {}, 1);
  Time now = t0;
  elect(raft, now);
  Outputs out;
  for (int i = 0; i < 5; ++i) raft.propose(now, "p" + std::to_string(i), out);
  v1::RaftMessage ack = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, raft.term());
  ack.set_index(raft.log().last_index());
  raft.step(now, "b", ack, out);
  ASSERT_EQ(raft.commit_index(), raft.log().last_index());
  raft.mark_applied(5, out);
  const std::size_t before_compaction = out.size();
  raft.compact("state-at-5", out);
  ASSERT_EQ(out.size(), before_compaction + 2) << "the new log head and a copy of the hard state";
  const auto* replace = std::get_if<Persist>(&out[before_compaction]);
  ASSERT_TRUE(replace != nullptr && replace->replace);
  raft.mark_applied(raft.commit_index(), out);

  Raft restarted("a", {"a", "b", "c"}, test_config(), Rng(7));
  Outputs restart_out;
  restarted.start(now, persisted_records(out), restart_out);
  EXPECT_EQ(restarted.log().snapshot_index(), 5u);
  EXPECT_EQ(restarted.log().last_index(), raft.log().last_index());
  EXPECT_EQ(restarted.term(), raft.term());
  EXPECT_EQ(restarted.voters(), (std::vector<NodeId>{"a", "b", "c"}));
  const auto snapshot = restarted.take_snapshot_to_restore();
  ASSERT_TRUE(snapshot.has_value());
  EXPECT_EQ(snapshot->data(), "state-at-5");
  EXPECT_EQ(restarted.applied_index(), 5u);
}

// Recovery after data loss ---------------------------------------------------------------------
// A replica whose recovery dropped records may have forgotten a vote or an acknowledged entry.
// It must not grant votes or pre-votes nor campaign until a leader has caught it up, and that
// state must survive restarts (docs/raft.md, "Recovery after data loss").

// What a disk holds after `out` was written on top of `disk` (replace drops earlier records).
std::vector<std::string> disk_after(std::vector<std::string> disk, const Outputs& out) {
  for (const auto& output : out) {
    if (const auto* persist = std::get_if<Persist>(&output)) {
      if (persist->replace) disk.clear();
      disk.push_back(persist->record);
    }
  }
  return disk;
}

// The hard state of the last Persist in `out` that carries one.
std::optional<v1::RaftHardState> last_hard_state(const Outputs& out) {
  std::optional<v1::RaftHardState> hard;
  for (const auto& output : out) {
    if (const auto* persist = std::get_if<Persist>(&output)) {
      const std::optional<v1::RaftRecord> record = decode_record(persist->record);
      if (record.has_value() && record->has_hard_state()) hard = record->hard_state();
    }
  }
  return hard;
}

struct LossCase {
  const char* name;
  Damage damage;
  bool first_record;  // damage the first record instead of the last
};

const std::vector<LossCase>& loss_cases() {
  static const std::vector<LossCase> cases = {
      {"corrupt tail (bit flip)", Damage::flip_last_byte, false},
      {"torn tail (half written)", Damage::truncate_half, false},
      {"garbage tail", Damage::garbage, false},
      {"empty tail record", Damage::empty, false},
      {"corrupt first record: blank, not re-bootstrapped", Damage::flip_last_byte, true},
      {"garbage first record", Damage::garbage, true},
  };
  return cases;
}

std::vector<std::string> damaged(const History& history, const LossCase& c) {
  std::vector<std::string> records = history.records;
  std::string& bad = c.first_record ? records.front() : records.back();
  switch (c.damage) {
    case Damage::flip_last_byte:
      bad.back() = static_cast<char>(bad.back() ^ 0x5a);
      break;
    case Damage::truncate_half:
      bad.resize(bad.size() / 2);
      break;
    case Damage::garbage:
      bad = "\xff\xfe not a record";
      break;
    case Damage::empty:
      bad.clear();
      break;
  }
  return records;
}

// A replica "b" restarted from `records`; `disk` is what its disk holds afterwards.
struct Restarted {
  Raft raft{"b", {"a", "b", "c"}, test_config(), Rng(5)};
  std::vector<std::string> disk;
  Outputs out;
};

std::unique_ptr<Restarted> restart(const std::vector<std::string>& records) {
  auto restarted = std::make_unique<Restarted>();
  restarted->raft.start(t0, records, restarted->out);
  // As RaftNode does: re-apply up to the recovered commit (the configuration makes it a voter).
  restarted->raft.mark_applied(restarted->raft.commit_index(), restarted->out);
  restarted->disk = disk_after(records, restarted->out);
  return restarted;
}

// A candidate "c" whose log (index 4, term 3) is ahead of anything b may hold.
v1::RaftMessage vote_request(v1::RaftMessageType type, Term term) {
  v1::RaftMessage request = message(type, term);
  request.set_index(4);
  request.set_log_term(3);
  return request;
}

// The leader's log: the bootstrap configuration, 2 and 3 of term 2, 4 of term 3.
v1::RaftEntry leader_entry(Index index) {
  if (index == 1) {
    v1::RaftEntry conf;
    conf.set_index(1);
    conf.set_term(1);
    conf.set_type(v1::RAFT_ENTRY_TYPE_CONF);
    for (const char* id : {"a", "b", "c"}) conf.mutable_conf()->add_voters(id);
    return conf;
  }
  return entry_of(index, index == 4 ? 3 : 2);
}

// An append from leader "a" of term 3 after the follower's commit index, carrying the leader's
// entries up to `last` and the leader's commit index `commit`.
v1::RaftMessage append_from_leader(const Raft& follower, Index last, Index commit) {
  const Index prev = follower.commit_index();
  v1::RaftMessage append = message(v1::RAFT_MESSAGE_TYPE_APPEND, 3);
  append.set_index(prev);
  append.set_log_term(prev == 0 ? 0 : leader_entry(prev).term());
  for (Index i = prev + 1; i <= last; ++i) *append.add_entries() = leader_entry(i);
  append.set_commit(commit);
  return append;
}

bool granted(const Outputs& out, v1::RaftMessageType type) {
  const std::vector<v1::RaftMessage> answers = sends_of_type(out, type);
  return answers.size() == 1 && !answers.front().reject();
}

TEST(RaftRecovery, ACleanRestartStillVotesAndCampaigns) {
  const std::unique_ptr<Restarted> r = restart(follower_history().records);
  EXPECT_FALSE(r->raft.recovering());
  Outputs out;
  r->raft.step(t0, "c", vote_request(v1::RAFT_MESSAGE_TYPE_PRE_VOTE, 3), out);
  EXPECT_TRUE(granted(out, v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE));
  out.clear();
  r->raft.step(t0, "c", vote_request(v1::RAFT_MESSAGE_TYPE_VOTE, 3), out);
  EXPECT_TRUE(granted(out, v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE));
}

TEST(RaftRecovery, ALossyRecoveryRefusesVotesAndPreVotesAndDoesNotCampaign) {
  const History history = follower_history();
  for (const LossCase& c : loss_cases()) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<Restarted> r = restart(damaged(history, c));
    Raft& raft = r->raft;
    ASSERT_TRUE(raft.recovering());
    const std::optional<v1::RaftHardState> rewritten = last_hard_state(r->out);
    ASSERT_TRUE(rewritten.has_value());
    EXPECT_TRUE(rewritten->recovering()) << "the flag is in the rewritten good prefix";
    if (c.first_record) {
      EXPECT_EQ(raft.log().last_index(), 0u) << "blank, not re-bootstrapped";
      EXPECT_EQ(raft.term(), history.term) << "the term, a promise, is read from later records";
    }

    Outputs out;
    raft.step(t0, "c", vote_request(v1::RAFT_MESSAGE_TYPE_PRE_VOTE, 3), out);
    EXPECT_FALSE(granted(out, v1::RAFT_MESSAGE_TYPE_PRE_VOTE_RESPONSE));
    out.clear();
    raft.step(t0, "c", vote_request(v1::RAFT_MESSAGE_TYPE_VOTE, 3), out);
    EXPECT_FALSE(granted(out, v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE));
    EXPECT_NE(raft.vote(), "c");
    EXPECT_EQ(raft.term(), 3u) << "it still learns terms";
    EXPECT_TRUE(persists_precede_sends(out));

    out.clear();
    raft.tick(t0 + std::chrono::seconds(10), out);
    raft.step(t0 + std::chrono::seconds(10), "a", message(v1::RAFT_MESSAGE_TYPE_TIMEOUT_NOW, 3),
              out);
    EXPECT_EQ(raft.role(), Role::follower);
    EXPECT_TRUE(sends_of_type(out, v1::RAFT_MESSAGE_TYPE_PRE_VOTE).empty());
    EXPECT_TRUE(sends_of_type(out, v1::RAFT_MESSAGE_TYPE_VOTE).empty());
    for (const auto& output : out) EXPECT_FALSE(std::holds_alternative<WakeAt>(output));
    EXPECT_TRUE(raft.recovering());
  }
}

// What does and does not end the recovering state, in order, on one replica per loss case.
struct CatchUpStep {
  const char* name;
  std::function<void(Raft&, Outputs&)> run;
  bool recovering_after;
};

TEST(RaftRecovery, VotesAgainOnlyOnceALeaderHasCaughtItUp) {
  const History history = follower_history();
  const std::vector<CatchUpStep> steps = {
      {"a heartbeat does not end it",
       [](Raft& raft, Outputs& out) {
         v1::RaftMessage heartbeat = message(v1::RAFT_MESSAGE_TYPE_HEARTBEAT, 3);
         heartbeat.set_commit(4);
         raft.step(t0, "a", heartbeat, out);
       },
       true},
      {"an append whose commit is of an older term does not end it",
       [](Raft& raft, Outputs& out) { raft.step(t0, "a", append_from_leader(raft, 3, 3), out); },
       true},
      {"an append that stops short of the leader's commit does not end it",
       [](Raft& raft, Outputs& out) { raft.step(t0, "a", append_from_leader(raft, 3, 4), out); },
       true},
      {"an append up to the leader's commit, of the leader's term, ends it",
       [](Raft& raft, Outputs& out) { raft.step(t0, "a", append_from_leader(raft, 4, 4), out); },
       false},
  };
  for (const LossCase& c : loss_cases()) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<Restarted> r = restart(damaged(history, c));
    Raft& raft = r->raft;
    Outputs out;
    raft.step(t0, "c", vote_request(v1::RAFT_MESSAGE_TYPE_VOTE, 3), out);  // refused; term 3
    for (const CatchUpStep& step : steps) {
      SCOPED_TRACE(step.name);
      Outputs step_out;
      step.run(raft, step_out);
      EXPECT_EQ(raft.recovering(), step.recovering_after);
      EXPECT_TRUE(persists_precede_sends(step_out));
      for (const auto& answer : sends_of(step_out)) {
        EXPECT_EQ(answer.second.recovering(), step.recovering_after) << "answers carry the flag";
      }
      out.insert(out.end(), step_out.begin(), step_out.end());
    }
    EXPECT_EQ(raft.log().last_index(), 4u);
    EXPECT_EQ(raft.commit_index(), 4u);
    EXPECT_EQ(raft.vote(), "a") << "its vote in the leader's term is pinned to the leader";
    const std::optional<v1::RaftHardState> cleared = last_hard_state(out);
    ASSERT_TRUE(cleared.has_value());
    EXPECT_FALSE(cleared->recovering()) << "the cleared flag is synced before the answer";

    Outputs vote_out;  // after the leader's lease, as a candidate of term 4 would ask
    raft.step(t0 + std::chrono::seconds(1), "c", vote_request(v1::RAFT_MESSAGE_TYPE_VOTE, 4),
              vote_out);
    EXPECT_TRUE(granted(vote_out, v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE)) << "votes again";
  }
}

TEST(RaftRecovery, CaughtUpReplicaCampaignsAgain) {
  const LossCase torn{"torn tail", Damage::truncate_half, false};
  std::unique_ptr<Restarted> r = restart(damaged(follower_history(), torn));
  Raft& raft = r->raft;
  Outputs out;
  raft.step(t0, "a", append_from_leader(raft, 4, 4), out);
  ASSERT_FALSE(raft.recovering());
  raft.mark_applied(4, out);
  out.clear();
  raft.tick(t0 + std::chrono::seconds(1), out);
  EXPECT_EQ(raft.role(), Role::pre_candidate);
  EXPECT_EQ(sends_of_type(out, v1::RAFT_MESSAGE_TYPE_PRE_VOTE).size(), 2u);
}

TEST(RaftRecovery, TheRecoveringFlagSurvivesRestarts) {
  const History history = follower_history();
  for (const LossCase& c : loss_cases()) {
    SCOPED_TRACE(c.name);
    std::unique_ptr<Restarted> first = restart(damaged(history, c));
    ASSERT_TRUE(first->raft.recovering());
    // It learns a higher term (a refused vote) and writes it: still recovering on disk.
    Outputs out;
    first->raft.step(t0, "c", vote_request(v1::RAFT_MESSAGE_TYPE_VOTE, 3), out);
    std::vector<std::string> disk = disk_after(first->disk, out);

    std::unique_ptr<Restarted> second = restart(disk);  // nothing is damaged any more
    EXPECT_TRUE(second->raft.recovering()) << "a clean restart does not forget the flag";
    EXPECT_EQ(second->raft.term(), 3u);
    EXPECT_FALSE(has_persist(second->out)) << "nothing was lost this time";
    Outputs vote_out;
    second->raft.step(t0, "c", vote_request(v1::RAFT_MESSAGE_TYPE_VOTE, 4), vote_out);
    EXPECT_FALSE(granted(vote_out, v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE));

    // A crash during recovery, before the rewrite was written: the damage is seen again.
    EXPECT_TRUE(restart(damaged(history, c))->raft.recovering());

    // Caught up, then restarted: it votes again.
    Outputs catch_up;
    second->raft.step(t0, "a", message(v1::RAFT_MESSAGE_TYPE_HEARTBEAT, 4), catch_up);
    v1::RaftMessage append = append_from_leader(second->raft, 4, 4);
    append.set_term(4);
    *append.mutable_entries(append.entries_size() - 1) = entry_of(4, 4);
    second->raft.step(t0, "a", append, catch_up);
    ASSERT_FALSE(second->raft.recovering());
    std::unique_ptr<Restarted> third = restart(disk_after(second->disk, catch_up));
    EXPECT_FALSE(third->raft.recovering());
    EXPECT_EQ(third->raft.vote(), "a");
    Outputs third_vote;
    third->raft.step(t0, "c", vote_request(v1::RAFT_MESSAGE_TYPE_VOTE, 5), third_vote);
    EXPECT_FALSE(granted(third_vote, v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE))
        << "c's log (index 4, term 3) is behind b's (index 4, term 4)";
    third_vote.clear();
    v1::RaftMessage ahead = message(v1::RAFT_MESSAGE_TYPE_VOTE, 5);
    ahead.set_index(4);
    ahead.set_log_term(4);
    third->raft.step(t0, "c", ahead, third_vote);
    EXPECT_TRUE(granted(third_vote, v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE));
  }
}

// docs/raft.md's first recovery gap, the exact interleaving: b votes for c in term 5; a record
// of b's is corrupted; b restarts; a, a stale leader of term 3, catches b up; then a campaigns in
// term 5. Had b forgotten its vote it would grant a's, and c and a could both win term 5 with
// b's vote. Each vote is written twice and recovery reads the hard state of every good record,
// past a bad one, so one corrupted record cannot take the vote away.
TEST(RaftRecovery, AVoteSurvivesTheCorruptionOfAnyOneRecord) {
  const History history = follower_history();
  const std::unique_ptr<Restarted> voter = restart(history.records);
  Outputs vote_out;
  voter->raft.step(t0, "c", vote_request(v1::RAFT_MESSAGE_TYPE_VOTE, 5), vote_out);
  ASSERT_TRUE(granted(vote_out, v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE));
  const std::vector<std::string> disk = disk_after(voter->disk, vote_out);
  const std::size_t vote_record = voter->disk.size();  // the first record the vote step wrote
  ASSERT_LT(vote_record, disk.size());
  struct Corrupted {
    const char* name;
    std::size_t record;
  };
  const std::vector<Corrupted> cases = {{"the vote's record", vote_record},
                                        {"the last record", disk.size() - 1},
                                        {"the first record", 0}};
  for (const Corrupted& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::string> damaged_disk = disk;
    damaged_disk[c.record].back() = static_cast<char>(damaged_disk[c.record].back() ^ 0x5a);
    const std::unique_ptr<Restarted> r = restart(damaged_disk);
    EXPECT_EQ(r->raft.term(), 5u);
    EXPECT_EQ(r->raft.vote(), "c");
    Outputs out;
    r->raft.step(t0, "a", append_from_leader(r->raft, 4, 4), out);  // a stale leader, term 3
    v1::RaftMessage second = message(v1::RAFT_MESSAGE_TYPE_VOTE, 5);
    second.set_index(4);
    second.set_log_term(3);
    out.clear();
    r->raft.step(t0 + std::chrono::seconds(1), "a", second, out);
    EXPECT_FALSE(granted(out, v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE)) << "b voted for c in term 5";
    // Rewritten, the vote is still there twice: a second corruption of one record, after a
    // restart, leaves it too.
    const std::vector<std::string> rewritten = disk_after(damaged_disk, r->out);
    for (std::size_t i = 0; i < rewritten.size(); ++i) {
      std::vector<std::string> again = rewritten;
      again[i].back() = static_cast<char>(again[i].back() ^ 0x5a);
      EXPECT_EQ(restart(again)->raft.vote(), "c") << "record " << i << " of the rewrite";
    }
  }
}

// The leader side: a recovering follower's acknowledgments are not counted, and its loss
// makes the leader forget the match index it had for it.
TEST(RaftRecovery, ALeaderDoesNotCountARecoveringFollower) {
  Raft raft = make_raft("a", {}, 1);
  Time now = t0;
  elect(raft, now);
  Outputs out;
  raft.propose(now, "p", out);
  const Index last = raft.log().last_index();
  struct AckCase {
    const char* name;
    Index index;
    bool recovering;
    Index commit_after;
    Index match_after;
  };
  const std::vector<AckCase> cases = {
      {"a recovering ack does not commit", last, true, 1, last},
      {"a recovering answer below the match resets it", 1, true, 1, 1},
      {"a caught-up ack commits", last, false, last, last},
  };
  for (const AckCase& c : cases) {
    SCOPED_TRACE(c.name);
    v1::RaftMessage ack = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, raft.term());
    ack.set_index(c.index);
    ack.set_recovering(c.recovering);
    raft.step(now, "b", ack, out);
    EXPECT_EQ(raft.commit_index(), c.commit_after);
    EXPECT_EQ(raft.progress().at("b").match, c.match_after);
    EXPECT_EQ(raft.progress().at("b").recovering, c.recovering);
  }
}

// docs/raft.md's second recovery gap, the exact interleaving: b acknowledges the leader's
// entries, the acknowledgment is delayed, b loses records, restarts and answers a later append
// as `recovering` with a success at index 1; then the old acknowledgment arrives. Taken, it
// would give b back a match it no longer holds, counted towards commit. Answers echo the
// append they answer (`append_seq`), and the leader ignores those sent before the loss.
TEST(RaftRecovery, AnAcknowledgmentFromBeforeALossArrivingAfterItIsIgnored) {
  Raft raft = make_raft("a", {}, 1);
  Time now = t0;
  elect(raft, now);
  Outputs out;
  // b answers a heartbeat, so the leader probes it; the probe's ack puts b in replicate state,
  // where each proposal is an append to it.
  raft.step(now, "b", message(v1::RAFT_MESSAGE_TYPE_HEARTBEAT_RESPONSE, raft.term()), out);
  const auto to_b = [](const Outputs& outputs) {
    std::vector<v1::RaftMessage> appends;
    for (const auto& [to, m] : sends_of(outputs))
      if (to == "b" && m.type() == v1::RAFT_MESSAGE_TYPE_APPEND) appends.push_back(m);
    return appends;
  };
  ASSERT_FALSE(to_b(out).empty());
  v1::RaftMessage first_ack = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, raft.term());
  first_ack.set_index(raft.log().last_index());
  first_ack.set_append_seq(to_b(out).back().append_seq());
  raft.step(now, "b", first_ack, out);
  out.clear();
  raft.propose(now, "q", out);
  ASSERT_FALSE(to_b(out).empty());
  const v1::RaftMessage before_loss = to_b(out).back();
  const Index last = raft.log().last_index();
  const Index commit_before = raft.commit_index();
  ASSERT_LT(commit_before, last);
  v1::RaftMessage stale_ack = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, raft.term());
  stale_ack.set_index(last);
  stale_ack.set_append_seq(before_loss.append_seq());

  out.clear();
  raft.propose(now, "r", out);
  ASSERT_FALSE(to_b(out).empty());
  v1::RaftMessage recovering = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, raft.term());
  recovering.set_index(1);
  recovering.set_recovering(true);
  recovering.set_append_seq(to_b(out).back().append_seq());
  raft.step(now, "b", recovering, out);
  ASSERT_EQ(raft.progress().at("b").match, 1u);

  raft.step(now, "b", stale_ack, out);
  EXPECT_EQ(raft.progress().at("b").match, 1u) << "the match from before the loss stays gone";
  EXPECT_TRUE(raft.progress().at("b").recovering);
  EXPECT_EQ(raft.commit_index(), commit_before) << "nothing is committed on a lost copy";

  // An answer to a later append, caught up, counts again.
  out.clear();
  raft.tick(now + std::chrono::milliseconds(60), out);  // a heartbeat, answered
  v1::RaftMessage heartbeat_answer = message(v1::RAFT_MESSAGE_TYPE_HEARTBEAT_RESPONSE, raft.term());
  raft.step(now + std::chrono::milliseconds(60), "b", heartbeat_answer, out);
  ASSERT_FALSE(to_b(out).empty()) << "the leader probes b again";
  v1::RaftMessage caught_up = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, raft.term());
  caught_up.set_index(raft.log().last_index());
  caught_up.set_append_seq(to_b(out).back().append_seq());
  raft.step(now + std::chrono::milliseconds(60), "b", caught_up, out);
  EXPECT_EQ(raft.progress().at("b").match, raft.log().last_index());
  EXPECT_EQ(raft.commit_index(), raft.log().last_index());
}

// Durability ordering: in each case the output batch persists before it sends, and persists
// at all when the Send depends on new durable state, with a sync: an unsynced write may still be
// lost after the Send that reveals it.
struct OrderingCase {
  const char* name;
  std::function<Outputs()> run;
  v1::RaftMessageType dependent;  // a Send of this type must follow a Persist
};

TEST(RaftRecovery, PersistPrecedesEverySendThatDependsOnIt) {
  const std::vector<OrderingCase> cases = {
      {"candidate: term and self-vote before VOTE requests",
       [] {
         RaftConfig config = test_config();
         config.pre_vote = false;
         Raft raft = make_raft("a", {}, 1, "", 1, config);
         Outputs out;
         raft.tick(t0 + std::chrono::milliseconds(250), out);
         return out;
       },
       v1::RAFT_MESSAGE_TYPE_VOTE},
      {"voter: vote before VOTE_RESPONSE",
       [] {
         Raft raft = make_raft("b", {}, 1);
         v1::RaftMessage vote = message(v1::RAFT_MESSAGE_TYPE_VOTE, 2);
         vote.set_index(1);
         vote.set_log_term(1);
         Outputs out;
         raft.step(t0, "a", vote, out);
         return out;
       },
       v1::RAFT_MESSAGE_TYPE_VOTE_RESPONSE},
      {"follower: entries before APPEND_RESPONSE",
       [] {
         Raft raft = make_raft("b", {}, 2);
         v1::RaftMessage append = message(v1::RAFT_MESSAGE_TYPE_APPEND, 2);
         append.set_index(1);
         append.set_log_term(1);
         *append.add_entries() = entry_of(2, 2);
         Outputs out;
         raft.step(t0, "a", append, out);
         return out;
       },
       v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE},
      {"leader: proposed entry before APPEND carrying it",
       [] {
         Raft raft = make_raft("a", {}, 1);
         Time now = t0;
         elect(raft, now);
         Outputs out;
         v1::RaftMessage ack = message(v1::RAFT_MESSAGE_TYPE_APPEND_RESPONSE, raft.term());
         ack.set_index(raft.log().last_index());
         raft.step(now, "b", ack, out);  // b is found: appends now stream to it
         out.clear();
         raft.propose(now, "data", out);
         return out;
       },
       v1::RAFT_MESSAGE_TYPE_APPEND},
  };
  for (const OrderingCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Outputs out = c.run();
    ASSERT_FALSE(sends_of_type(out, c.dependent).empty());
    EXPECT_TRUE(has_persist(out));
    EXPECT_TRUE(persists_precede_sends(out));
    const Persist* last = nullptr;  // a synced write makes every write before it durable too
    for (const auto& output : out)
      if (const auto* persist = std::get_if<Persist>(&output)) last = persist;
    ASSERT_NE(last, nullptr);
    EXPECT_TRUE(last->sync) << "the batch's last write is synced before its Sends go out";
  }
}

// The records' checksum (CRC-32C, Castagnoli): the check value every implementation agrees on,
// and, for every length around the 8-byte slices, the bit-by-bit definition.
TEST(Crc32c, KnownValuesAndEveryLengthAgreeWithTheBitwiseDefinition) {
  EXPECT_EQ(omni::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(omni::crc32c(""), 0u);
  const auto bitwise = [](std::string_view bytes) {
    std::uint32_t crc = 0xFFFFFFFFu;
    for (unsigned char byte : bytes) {
      crc ^= byte;
      for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
  };
  std::string bytes;
  std::uint32_t x = 12345;
  for (std::size_t length = 0; length <= 70; ++length) {
    EXPECT_EQ(omni::crc32c(bytes), bitwise(bytes)) << "length " << length;
    x = x * 1103515245u + 12345u;
    bytes.push_back(static_cast<char>(x >> 16));
  }
}

// encode_record writes the frame by hand around a payload serialized once: its bytes must be
// the ones protobuf writes for the same RaftRecordFrame (records written before the change, and
// by any other writer, read the same), and decode_record must give the record back. Sizes reach
// two- and three-byte length varints.
RC_GTEST_PROP(RaftRecordFrame, EncodedAsProtobufWritesItAndDecodedBack, ()) {
  v1::RaftRecord record;
  const auto entries = *rc::gen::inRange<int>(0, 6);
  for (int i = 0; i < entries; ++i) {
    v1::RaftEntry* entry = record.add_entries();
    entry->set_term(*rc::gen::inRange<std::uint64_t>(1, 1000));
    entry->set_index(static_cast<std::uint64_t>(i + 1));
    entry->set_data(std::string(*rc::gen::inRange<std::size_t>(0, 20000), 'x'));
  }
  if (entries == 0 || *rc::gen::arbitrary<bool>()) {
    record.mutable_hard_state()->set_term(*rc::gen::inRange<std::uint64_t>(1, 1000));
    record.mutable_hard_state()->set_vote(*rc::gen::element<std::string>("", "orchestrator:2"));
  }
  v1::RaftRecordFrame frame;
  frame.set_payload(record.SerializeAsString());
  frame.set_crc32c(crc32c(frame.payload()));
  const std::string bytes = encode_record(record);
  RC_ASSERT(bytes == frame.SerializeAsString());
  const std::optional<v1::RaftRecord> decoded = decode_record(bytes);
  RC_ASSERT(decoded.has_value());
  RC_ASSERT(decoded->SerializeAsString() == record.SerializeAsString());
}

// emit_persist encodes a record from the log's entries and the hard state where they are: the
// bytes must be those of the RaftRecord holding copies of the same fields, whichever are present
// (an empty snapshot or hard state is still a present field).
RC_GTEST_PROP(RaftRecordFrame, EncodedFromItsPartsWritesWhatTheWholeRecordWrites, ()) {
  std::vector<v1::RaftEntry> entries(*rc::gen::inRange<std::size_t>(0, 5));
  for (std::size_t i = 0; i < entries.size(); ++i) {
    entries[i].set_term(*rc::gen::inRange<std::uint64_t>(0, 1000));
    entries[i].set_index(i + 1);
    entries[i].set_data(std::string(*rc::gen::inRange<std::size_t>(0, 20000), 'y'));
  }
  std::optional<v1::RaftSnapshot> snapshot;
  if (*rc::gen::arbitrary<bool>()) {
    snapshot.emplace();
    snapshot->set_index(*rc::gen::inRange<std::uint64_t>(0, 1000));
    snapshot->set_data(std::string(*rc::gen::inRange<std::size_t>(0, 300), 's'));
  }
  std::optional<v1::RaftHardState> hard;
  if ((entries.empty() && !snapshot) || *rc::gen::arbitrary<bool>()) {
    hard.emplace();
    hard->set_term(*rc::gen::inRange<std::uint64_t>(0, 1000));
    hard->set_vote(*rc::gen::element<std::string>("", "orchestrator:3"));
    hard->set_commit(*rc::gen::inRange<std::uint64_t>(0, 1000));
  }
  v1::RaftRecord record;
  if (snapshot) *record.mutable_snapshot() = *snapshot;
  for (const v1::RaftEntry& entry : entries) *record.add_entries() = entry;
  if (hard) *record.mutable_hard_state() = *hard;
  const RecordParts parts{.snapshot = snapshot ? &*snapshot : nullptr,
                          .entries = entries,
                          .hard_state = hard ? &*hard : nullptr};
  const std::string bytes = encode_record(parts);
  RC_ASSERT(bytes == encode_record(record));
  const std::optional<v1::RaftRecord> decoded = decode_record(bytes);
  RC_ASSERT(decoded.has_value());
  RC_ASSERT(decoded->SerializeAsString() == record.SerializeAsString());
}

}  // namespace
}  // namespace omni::raft::testing
