// Recovery from persisted records (including torn and corrupt ones) and the durability
// contract: a Persist precedes every Send that depends on it.
#include <gtest/gtest.h>

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
    EXPECT_EQ(raft.term(), expected.term());
    EXPECT_EQ(raft.vote(), expected.vote());
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
  raft.compact("state-at-5", out);
  const auto* replace = std::get_if<Persist>(&out.back());
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

// Durability ordering: in each case the output batch persists before it sends, and persists
// at all when the Send depends on new durable state.
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
  }
}

}  // namespace
}  // namespace omni::raft::testing
