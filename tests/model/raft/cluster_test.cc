// Multi-node behaviour on the in-test network (harness.h): elections, replication, read-index,
// snapshots, membership and leadership transfer. Every run also checks the durability contract.
#include <gtest/gtest.h>

#include "tests/model/raft/harness.h"

namespace omni::raft::testing {
namespace {

using std::chrono::milliseconds;

NodeId wait_for_leader(Cluster& cluster, Duration limit = milliseconds(2000)) {
  for (Duration waited{}; waited < limit; waited += milliseconds(10)) {
    cluster.run_for(milliseconds(10));
    if (!cluster.leader().empty()) return cluster.leader();
  }
  return "";
}

std::size_t ok_replies(const Cluster& cluster) {
  std::size_t ok = 0;
  for (const auto& reply : cluster.replies) ok += reply.status() == v1::RAFT_CLIENT_STATUS_OK;
  return ok;
}

TEST(RaftCluster, ElectsOneLeaderPerTermAcrossSeeds) {
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Cluster cluster({"a", "b", "c"}, test_config(), seed);
    const NodeId leader = wait_for_leader(cluster);
    ASSERT_FALSE(leader.empty());
    cluster.run_for(milliseconds(500));
    std::map<Term, std::set<NodeId>> leaders;
    for (const char* id : {"a", "b", "c"}) {
      if (cluster.raft(id).role() == Role::leader) leaders[cluster.raft(id).term()].insert(id);
    }
    for (const auto& [term, ids] : leaders) EXPECT_EQ(ids.size(), 1u) << "term " << term;
    EXPECT_EQ(cluster.leader(), leader) << "a stable cluster keeps its leader";
    EXPECT_TRUE(cluster.violations.empty()) << cluster.violations.front();
  }
}

TEST(RaftCluster, ReplicatesCommitsAndAppliesInOrder) {
  Cluster cluster({"a", "b", "c"});
  const NodeId leader = wait_for_leader(cluster);
  ASSERT_FALSE(leader.empty());
  for (int i = 0; i < 50; ++i) {
    cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE, "cmd" + std::to_string(i));
  }
  cluster.run_for(milliseconds(200));
  EXPECT_EQ(ok_replies(cluster), 50u);
  for (const char* id : {"a", "b", "c"}) {
    ASSERT_EQ(cluster.machine(id).applied.size(), 50u) << id;
    EXPECT_EQ(cluster.machine(id).applied.front(), "cmd0");
    EXPECT_EQ(cluster.machine(id).applied.back(), "cmd49");
  }
  EXPECT_TRUE(cluster.violations.empty()) << cluster.violations.front();
}

TEST(RaftCluster, FollowerRedirectsClientsToTheLeader) {
  Cluster cluster({"a", "b", "c"});
  const NodeId leader = wait_for_leader(cluster);
  ASSERT_FALSE(leader.empty());
  cluster.run_for(milliseconds(100));
  const NodeId follower = leader == "a" ? "b" : "a";
  cluster.request(follower, v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE, "x");
  ASSERT_EQ(cluster.replies.size(), 1u);
  EXPECT_EQ(cluster.replies[0].status(), v1::RAFT_CLIENT_STATUS_NOT_LEADER);
  EXPECT_EQ(cluster.replies[0].leader(), leader);
}

TEST(RaftCluster, PartitionedNodeDoesNotInflateTermsOrDisruptOnReturn) {
  Cluster cluster({"a", "b", "c"});
  const NodeId leader = wait_for_leader(cluster);
  ASSERT_FALSE(leader.empty());
  const NodeId outsider = leader == "c" ? "b" : "c";
  const Term term = cluster.raft(leader).term();
  cluster.isolated.insert(outsider);
  cluster.run_for(milliseconds(3000));
  EXPECT_EQ(cluster.raft(outsider).term(), term) << "pre-vote keeps a lone node's term";
  cluster.isolated.clear();
  cluster.run_for(milliseconds(1000));
  EXPECT_EQ(cluster.leader(), leader);
  EXPECT_EQ(cluster.raft(leader).term(), term);
}

TEST(RaftCluster, IsolatedLeaderStepsDownAndTheRestElect) {
  Cluster cluster({"a", "b", "c"});
  const NodeId old_leader = wait_for_leader(cluster);
  ASSERT_FALSE(old_leader.empty());
  cluster.isolated.insert(old_leader);
  const Time isolated_at = cluster.now();
  while (cluster.raft(old_leader).role() == Role::leader &&
         cluster.now() - isolated_at < milliseconds(1000)) {
    cluster.run_for(milliseconds(1));
  }
  EXPECT_NE(cluster.raft(old_leader).role(), Role::leader);
  EXPECT_LE(cluster.now() - isolated_at, test_config().election_timeout_min + milliseconds(2));
  cluster.run_for(milliseconds(1000));
  const NodeId new_leader = cluster.leader();
  EXPECT_FALSE(new_leader.empty());
  EXPECT_NE(new_leader, old_leader);
}

TEST(RaftCluster, ReadIndexAnswersAfterTheLatestWriteIsApplied) {
  Cluster cluster({"a", "b", "c"});
  const NodeId leader = wait_for_leader(cluster);
  ASSERT_FALSE(leader.empty());
  cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE, "w");
  cluster.run_for(milliseconds(50));
  const Index write_index = cluster.replies.back().index();
  const Index log_before = cluster.raft(leader).log().last_index();
  cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_READ_INDEX);
  cluster.run_for(milliseconds(50));
  ASSERT_EQ(cluster.replies.size(), 2u);
  EXPECT_EQ(cluster.replies[1].status(), v1::RAFT_CLIENT_STATUS_OK);
  EXPECT_GE(cluster.replies[1].index(), write_index);
  EXPECT_EQ(cluster.raft(leader).log().last_index(), log_before) << "a read writes no entry";
}

TEST(RaftCluster, ReadIndexOnAnIsolatedLeaderIsNeverConfirmed) {
  Cluster cluster({"a", "b", "c"});
  const NodeId leader = wait_for_leader(cluster);
  ASSERT_FALSE(leader.empty());
  cluster.run_for(milliseconds(50));
  cluster.isolated.insert(leader);
  cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_READ_INDEX);
  cluster.run_for(milliseconds(500));
  ASSERT_EQ(cluster.replies.size(), 1u);
  EXPECT_EQ(cluster.replies[0].status(), v1::RAFT_CLIENT_STATUS_NOT_LEADER);
}

TEST(RaftCluster, LaggingFollowerCatchesUpBySnapshot) {
  RaftConfig config = test_config();
  config.compact_after_entries = 5;
  Cluster cluster({"a", "b", "c"}, config);
  const NodeId leader = wait_for_leader(cluster);
  ASSERT_FALSE(leader.empty());
  const NodeId lagging = leader == "c" ? "b" : "c";
  cluster.isolated.insert(lagging);
  for (int i = 0; i < 30; ++i) {
    cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE, "v" + std::to_string(i));
  }
  cluster.run_for(milliseconds(100));
  ASSERT_GT(cluster.raft(leader).log().snapshot_index(), 5u) << "the leader compacted";
  cluster.isolated.clear();
  cluster.run_for(milliseconds(500));
  EXPECT_GT(cluster.raft(lagging).log().snapshot_index(), 0u) << "caught up by snapshot";
  EXPECT_EQ(cluster.machine(lagging).applied, cluster.machine(leader).applied);
  EXPECT_EQ(cluster.machine(lagging).applied.size(), 30u);
  EXPECT_TRUE(cluster.violations.empty()) << cluster.violations.front();
}

TEST(RaftCluster, MembershipLearnerCatchesUpThenBecomesVoterThenIsRemoved) {
  Cluster cluster({"a", "b", "c"});
  NodeId leader = wait_for_leader(cluster);
  ASSERT_FALSE(leader.empty());
  cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE, "before");
  cluster.add("d", {});  // joins: no initial voters, waits for the leader
  cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_PROMOTE_VOTER, "", "d");
  EXPECT_EQ(cluster.replies.back().status(), v1::RAFT_CLIENT_STATUS_REJECTED) << "not a learner";
  cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_ADD_LEARNER, "", "d");
  cluster.run_for(milliseconds(200));
  EXPECT_EQ(cluster.raft(leader).learners(), std::vector<NodeId>{"d"});
  EXPECT_EQ(cluster.machine("d").applied, std::vector<std::string>{"before"});
  cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_PROMOTE_VOTER, "", "d");
  cluster.run_for(milliseconds(200));
  EXPECT_EQ(cluster.raft(leader).voters(), (std::vector<NodeId>{"a", "b", "c", "d"}));
  EXPECT_EQ(cluster.raft("d").voters().size(), 4u);

  const NodeId removed = leader == "a" ? "b" : "a";
  cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_REMOVE_SERVER, "", removed);
  cluster.run_for(milliseconds(200));
  EXPECT_FALSE(contains(cluster.raft(leader).voters(), removed));
  EXPECT_EQ(cluster.raft(leader).voters().size(), 3u);
  // The removed server never campaigns, even cut off from everyone.
  cluster.isolated.insert(removed);
  const Term removed_term = cluster.raft(removed).term();
  cluster.run_for(milliseconds(2000));
  EXPECT_EQ(cluster.raft(removed).role(), Role::follower);
  EXPECT_EQ(cluster.raft(removed).term(), removed_term);
  cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE, "after");
  cluster.run_for(milliseconds(200));
  EXPECT_EQ(cluster.machine("d").applied.back(), "after");
  EXPECT_TRUE(cluster.violations.empty()) << cluster.violations.front();
}

// Applying a configuration can move the commit: a leader of two that removes the other commits
// alone, the moment it applies the removal, what it appended after it. Everything committed is
// applied in the same step (the apply loop once stopped at the commit it started with, and a
// replica's assertion fired; RaftProps.Invariants_3ServersAndASpareChangingMembership found it).
TEST(RaftCluster, ApplyingARemovalAppliesWhatItCommitsAtOnce) {
  Cluster cluster({"a", "b"});
  const NodeId leader = wait_for_leader(cluster);
  ASSERT_FALSE(leader.empty());
  cluster.run_for(milliseconds(50));
  const NodeId other = leader == "a" ? "b" : "a";
  // The removal and three proposals reach the leader before any answer from the other.
  cluster.send_request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_REMOVE_SERVER, "", other);
  for (const char* data : {"x1", "x2", "x3"})
    cluster.send_request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE, data);
  const Index last = cluster.raft(leader).log().last_index();
  cluster.deliver_all();
  EXPECT_EQ(cluster.raft(leader).voters(), std::vector<NodeId>{leader});
  EXPECT_EQ(cluster.raft(leader).commit_index(), last);
  EXPECT_EQ(cluster.raft(leader).applied_index(), last);
  EXPECT_EQ(cluster.machine(leader).applied, (std::vector<std::string>{"x1", "x2", "x3"}));
  EXPECT_TRUE(cluster.violations.empty()) << cluster.violations.front();
}

TEST(RaftCluster, RemovingTheLeaderHandsOverToTheRest) {
  Cluster cluster({"a", "b", "c"});
  const NodeId leader = wait_for_leader(cluster);
  ASSERT_FALSE(leader.empty());
  cluster.run_for(milliseconds(50));
  cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_REMOVE_SERVER, "", leader);
  cluster.run_for(milliseconds(1000));
  const NodeId next = cluster.leader();
  ASSERT_FALSE(next.empty());
  EXPECT_NE(next, leader);
  EXPECT_EQ(cluster.raft(next).voters().size(), 2u);
}

TEST(RaftCluster, LeadershipTransferMovesLeadershipQuickly) {
  Cluster cluster({"a", "b", "c"});
  const NodeId leader = wait_for_leader(cluster);
  ASSERT_FALSE(leader.empty());
  cluster.run_for(milliseconds(50));
  const NodeId target = leader == "b" ? "c" : "b";
  cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_TRANSFER_LEADERSHIP, "", target);
  cluster.run_for(milliseconds(20));  // well below election_timeout_min
  EXPECT_EQ(cluster.leader(), target);
  EXPECT_EQ(cluster.raft(target).term(), cluster.raft(leader).term());
}

TEST(RaftCluster, RestartedNodeRecoversAndRejoins) {
  Cluster cluster({"a", "b", "c"});
  const NodeId leader = wait_for_leader(cluster);
  ASSERT_FALSE(leader.empty());
  for (int i = 0; i < 10; ++i) cluster.request(leader, v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE, "x");
  cluster.run_for(milliseconds(100));
  const NodeId follower = leader == "a" ? "b" : "a";
  const Term term = cluster.raft(follower).term();
  const Index last = cluster.raft(follower).log().last_index();
  cluster.crash(follower);
  cluster.machine(follower).applied.clear();
  cluster.start(follower);
  EXPECT_EQ(cluster.raft(follower).term(), term);
  EXPECT_EQ(cluster.raft(follower).log().last_index(), last);
  EXPECT_EQ(cluster.machine(follower).applied.size(), 10u) << "re-applied up to the commit";
  cluster.run_for(milliseconds(300));
  EXPECT_EQ(cluster.leader(), leader);
}

TEST(RaftCluster, DoubleVotingKnobProducesTwoLeadersInOneTerm) {
  // The test-only fault knob must make "at most one leader per term" fail for some schedule,
  // so the simulator's checker has something to catch.
  RaftConfig config = test_config();
  config.testing_grant_multiple_votes_per_term = true;
  config.pre_vote = false;
  config.check_quorum = false;
  config.election_timeout_max = config.election_timeout_min + milliseconds(1);
  bool caught = false;
  for (std::uint64_t seed = 1; seed <= 20 && !caught; ++seed) {
    Cluster cluster({"a", "b", "c", "d", "e"}, config, seed);
    std::map<Term, std::set<NodeId>> leaders;
    for (int i = 0; i < 300 && !caught; ++i) {
      cluster.run_for(milliseconds(1));
      for (const char* id : {"a", "b", "c", "d", "e"}) {
        if (cluster.raft(id).role() == Role::leader) leaders[cluster.raft(id).term()].insert(id);
      }
      for (const auto& [term, ids] : leaders) caught = caught || ids.size() > 1;
    }
  }
  EXPECT_TRUE(caught);
}

}  // namespace
}  // namespace omni::raft::testing
