// Raft under random fault schedules in the simulator, disk corruption of a minority of replicas
// included. Every schedule runs the checkers after
// every event (election safety, log matching, leader completeness, state machine safety) and at
// the end (no acknowledged entry lost; liveness: after every fault heals a proposal commits
// within 5 s of simulated time, election timeout 150..300 ms). A failure prints the invariant,
// the simulation seed and the shrunk schedule.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <set>

#include "tests/model/raft_props/checkers.h"
#include "tests/model/raft_props/raft_sim.h"
#include "tests/model/raft_props/rc_schedules.h"
#include "tests/model/raft_props/schedule.h"

namespace omni::raft::props {
namespace {

constexpr std::size_t kFaultsMax = 24;

RaftSimOptions options_for(std::size_t servers) {
  RaftSimOptions options;
  options.servers = servers;
  return options;
}

void property_for(std::size_t servers) {
  const RaftSimOptions options = options_for(servers);
  const Schedule schedule = *gen_schedule(options.fault_window, kFaultsMax, /*corruption=*/true);
  expect_no_violation(options, schedule);
}

// Schedule counts per cluster size: 2,000 in all (see docs/raft-figures.md for the CI time).
TEST(RaftProps, Invariants_1Server) {
  check_schedules(200, [] { property_for(1); });
}
TEST(RaftProps, Invariants_3Servers) {
  check_schedules(700, [] { property_for(3); });
}
TEST(RaftProps, Invariants_5Servers) {
  check_schedules(600, [] { property_for(5); });
}
TEST(RaftProps, Invariants_7Servers) {
  check_schedules(500, [] { property_for(7); });
}

// With a log compacted every 8 entries (a run commits about 150), replicas that crash or fall
// behind a partition catch up by installing the leader's snapshot, and restarts read snapshots
// back: the same invariants must hold.
RaftSimOptions compacting(std::size_t servers) {
  RaftSimOptions options = options_for(servers);
  options.raft.compact_after_entries = 8;
  return options;
}

TEST(RaftProps, Invariants_5ServersCompactingEvery8Entries) {
  check_schedules(300, [] {
    const RaftSimOptions options = compacting(5);
    expect_no_violation(options,
                        *gen_schedule(options.fault_window, kFaultsMax, /*corruption=*/true));
  });
}

// The compacting schedules do reach the snapshot paths (else the property above proves little).
TEST(RaftProps, CompactingSchedulesRestoreSnapshots) {
  std::size_t restores = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const RaftSimOptions options = compacting(5);
    const RunResult r = run_schedule(
        options, random_schedule(seed, 5, options.fault_window, kFaultsMax, /*corruption=*/false));
    ASSERT_FALSE(r.violation.has_value()) << "seed " << seed << ": " << r.violation->to_string();
    restores += r.snapshot_restores;
  }
  EXPECT_GT(restores, 0u) << "no replica in 20 schedules rebuilt its state from a snapshot";
}

// Three voters and a spare: the client adds the spare as a learner, promotes it once it caught up
// and removes one of the first voters, while the schedule's faults (which reach the spare too)
// run. The invariants hold across the configurations; an acknowledged entry must be on a
// majority of the cluster's size.
RaftSimOptions changing_membership() {
  RaftSimOptions options = options_for(3);
  options.spares = 1;
  return options;
}

TEST(RaftProps, Invariants_3ServersAndASpareChangingMembership) {
  check_schedules(200, [] {
    const RaftSimOptions options = changing_membership();
    expect_no_violation(options,
                        *gen_schedule(options.fault_window, kFaultsMax, /*corruption=*/true));
  });
}

struct MembershipSteps {
  std::size_t changes = 0;   // committed in all
  std::size_t complete = 0;  // runs that took every step
};

// Fixed schedules 1..20 of `options`: how many membership changes they commit, and how many of
// them take all `steps`. None may break an invariant.
MembershipSteps membership_steps(const RaftSimOptions& options, std::size_t steps) {
  MembershipSteps out;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const RunResult r =
        run_schedule(options, random_schedule(seed, 4, options.fault_window, kFaultsMax));
    EXPECT_FALSE(r.violation.has_value()) << "seed " << seed << ": " << r.violation->to_string();
    out.changes += r.membership_changes;
    if (r.membership_changes >= steps) ++out.complete;
  }
  return out;
}

// Those schedules do change the membership, all three steps of it, in most runs.
TEST(RaftProps, MembershipSchedulesAddPromoteAndRemove) {
  const MembershipSteps taken = membership_steps(changing_membership(), 3);
  EXPECT_GE(taken.complete, 8u) << taken.changes << " changes";
  std::printf("20 schedules: %zu membership changes, %zu runs with all three steps\n",
              taken.changes, taken.complete);
}

// Found by the schedule above (shrunk by RapidCheck): r1 led (a leader records its log's end as
// the last conf change it may not follow before applying), then, cut off from sending, heard a
// new leader, which cut r1's uncommitted tail; a conf change the client then sent r1 tripped an
// assertion meant for leaders only ("pending_conf_index_ <= log_.last_index()"): a client's
// request crashed a follower.
TEST(RaftMembership, AConfChangeSentToAFollowerWhoseLogWasCutIsRefusedNotACrash) {
  const Schedule schedule{122984388838692124ULL, {Fault{269, FaultKind::isolate, 0, 1}}};
  const RunResult r = run_schedule(changing_membership(), schedule);
  EXPECT_FALSE(r.violation.has_value()) << r.violation->to_string();
  EXPECT_GT(r.membership_changes, 0u);
}

// The removed voter is then added back with the disk it left with (its log, term and vote of
// the old configuration) and promoted again: the cluster grows to four voters.
RaftSimOptions re_adding_the_removed() {
  RaftSimOptions options = changing_membership();
  options.re_add_removed = true;
  return options;
}

TEST(RaftProps, Invariants_3ServersAndASpareRemovingAVoterAndAddingItBack) {
  check_schedules(200, [] {
    const RaftSimOptions options = re_adding_the_removed();
    expect_no_violation(options,
                        *gen_schedule(options.fault_window, kFaultsMax, /*corruption=*/true));
  });
}

// Those schedules take the two more steps in some runs.
TEST(RaftProps, MembershipSchedulesAddTheRemovedVoterBack) {
  const MembershipSteps taken = membership_steps(re_adding_the_removed(), 5);
  EXPECT_GE(taken.complete, 3u) << taken.changes << " changes";
  std::printf("20 schedules: %zu added the removed voter back and promoted it\n", taken.complete);
}

// Determinism: the trace hash is a function of the seed and schedule.
Schedule busy_schedule(std::uint64_t seed, std::size_t servers) {
  return random_schedule(seed, servers, std::chrono::seconds(2), kFaultsMax);
}

TEST(RaftDeterminism, SameSeedSameTraceHash) {
  for (std::uint64_t seed : {1ULL, 2ULL, 77ULL}) {
    const Schedule schedule = busy_schedule(seed, 5);
    const RunResult first = run_schedule(options_for(5), schedule);
    const RunResult second = run_schedule(options_for(5), schedule);
    EXPECT_FALSE(first.violation.has_value()) << first.violation->to_string();
    EXPECT_EQ(first.trace_hash, second.trace_hash) << to_string(schedule, 5);
    EXPECT_EQ(first.events, second.events);
    EXPECT_GT(first.acks, 0U);
  }
}

TEST(RaftDeterminism, DifferentSeedsDifferentTraceHashes) {
  std::set<std::uint64_t> hashes;
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    hashes.insert(run_schedule(options_for(3), busy_schedule(seed, 3)).trace_hash);
  }
  EXPECT_EQ(hashes.size(), 10U);
}

// Not blind: a Raft that grants several votes per term elects two leaders in one term for some
// schedule, and the election safety checker must say so within a bounded number of schedules.
TEST(RaftNotBlind, ElectionSafetyFiresWhenVotersGrantTwicePerTerm) {
  constexpr std::uint64_t kSchedulesMax = 200;
  RaftSimOptions options = options_for(5);
  options.raft.testing_grant_multiple_votes_per_term = true;
  options.raft.pre_vote = false;  // more concurrent candidates; still a legal configuration
  std::uint64_t found_at = 0;
  std::string found;
  for (std::uint64_t seed = 1; seed <= kSchedulesMax && found_at == 0; ++seed) {
    const RunResult result = run_schedule(options, busy_schedule(seed, 5));
    if (result.violation.has_value() && result.violation->invariant == "election safety") {
      found_at = seed;
      found = result.violation->to_string();
    }
  }
  ASSERT_NE(found_at, 0U) << "election safety never fired in " << kSchedulesMax << " schedules";
  std::printf("election safety fired at schedule %llu: %s\n",
              static_cast<unsigned long long>(found_at), found.c_str());
}

// A leader that writes each proposal over its last uncommitted entry: the leader append-only
// checker fires, and with it switched off, log matching does (the same index and term name two
// data), which it could not while its cache skipped entries whose term had not changed.
std::string first_violation_of_an_overwriting_leader(bool check_leader_append_only) {
  constexpr std::uint64_t kSchedulesMax = 50;
  RaftSimOptions options = options_for(3);
  options.raft.testing_leader_overwrites_its_last_entry = true;
  options.check_leader_append_only = check_leader_append_only;
  for (std::uint64_t seed = 1; seed <= kSchedulesMax; ++seed) {
    const RunResult result = run_schedule(options, busy_schedule(seed, 3));
    if (result.violation.has_value()) {
      std::printf("schedule %llu: %s\n", static_cast<unsigned long long>(seed),
                  result.violation->to_string().c_str());
      return result.violation->invariant;
    }
  }
  return "";
}

TEST(RaftNotBlind, LeaderAppendOnlyFiresWhenALeaderOverwritesItsLog) {
  EXPECT_EQ(first_violation_of_an_overwriting_leader(true), "leader append-only");
}

TEST(RaftNotBlind, LogMatchingFiresWhenAnEntryIsRewrittenWithTheSameTerm) {
  EXPECT_EQ(first_violation_of_an_overwriting_leader(false), "log matching");
}

// Leaders that answer read-index requests without a quorum round, and do not step down for
// want of one: a deposed leader's reads miss writes its successor acknowledged.
TEST(RaftNotBlind, LinearizableReadsFiresWhenReadsSkipTheQuorumRound) {
  constexpr std::uint64_t kSchedulesMax = 200;
  RaftSimOptions options = options_for(5);
  options.raft.testing_read_index_without_quorum = true;
  options.raft.check_quorum = false;
  std::string found;
  for (std::uint64_t seed = 1; seed <= kSchedulesMax && found.empty(); ++seed) {
    const RunResult result = run_schedule(options, busy_schedule(seed, 5));
    if (result.violation.has_value() && result.violation->invariant == "linearizable reads")
      found = "schedule " + std::to_string(seed) + ": " + result.violation->to_string();
  }
  ASSERT_FALSE(found.empty()) << "no stale read in " << kSchedulesMax << " schedules";
  std::printf("%s\n", found.c_str());
}

// The schedules exercise read-index and leadership transfer, not only proposals.
TEST(RaftProps, SchedulesReadThroughReadIndexAndTransferLeadership) {
  std::size_t reads = 0;
  std::size_t transfers = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const RunResult result = run_schedule(options_for(3), busy_schedule(seed, 3));
    ASSERT_FALSE(result.violation.has_value()) << result.violation->to_string();
    reads += result.reads;
    transfers += result.transfers;
  }
  EXPECT_GT(reads, 40u);
  EXPECT_GT(transfers, 5u);
  std::printf("20 schedules: %zu reads, %zu transfers\n", reads, transfers);
}

// Formerly RaftKnownLimits.OneCorruptedDiskCanBreakLeaderCompleteness. Before recovery after
// data loss made a replica non-voting until caught up, schedule 1,000,054 (simulation seed
// 8568660339881390339, only r1's disk corrupted) elected r4 in term 5 without the committed
// entry (index 7, term 3, 'c23'), and 8 of the 200 five-server schedules from seed 1,000,000
// broke leader completeness. Both must now pass.
TEST(RaftCorruption, PreviouslyFailingScheduleNowPasses) {
  const RaftSimOptions options = options_for(5);
  const Schedule schedule =
      random_schedule(1'000'054, 5, options.fault_window, kFaultsMax, /*corruption=*/true);
  ASSERT_EQ(schedule.seed, 8568660339881390339ULL) << "the schedule of the finding";
  const bool corrupts = std::any_of(schedule.faults.begin(), schedule.faults.end(),
                                    [](const Fault& f) { return f.kind == FaultKind::corrupt; });
  ASSERT_TRUE(corrupts) << to_string(schedule, 5);
  const RunResult result = run_schedule(options, schedule);
  EXPECT_FALSE(result.violation.has_value())
      << result.violation->to_string() << "\n  " << to_string(schedule, 5);
  EXPECT_GT(result.acks, 0U);
  EXPECT_GT(result.recovering_starts, 0U) << "r1 came back recovering: the loss did happen";
}

TEST(RaftCorruption, TheFindingsTwoHundredSchedulesPass) {
  const RaftSimOptions options = options_for(5);
  std::size_t violations = 0;
  std::size_t lossy = 0;
  for (std::uint64_t seed = 1'000'000; seed < 1'000'200; ++seed) {
    const Schedule schedule =
        random_schedule(seed, 5, options.fault_window, kFaultsMax, /*corruption=*/true);
    const RunResult result = run_schedule(options, schedule);
    lossy += result.recovering_starts > 0 ? 1 : 0;
    if (result.violation.has_value()) {
      ++violations;
      ADD_FAILURE() << "schedule " << seed << ": " << result.violation->to_string() << "\n  "
                    << to_string(schedule, 5);
    }
  }
  EXPECT_EQ(violations, 0U);
  EXPECT_GT(lossy, 0U) << "no schedule lost data: the test would prove nothing";
  std::printf(
      "200 five-server schedules with corruption: %zu with a lossy recovery, %zu violations\n",
      lossy, violations);
}

// Each checker can fail: table of bad inputs, each must be reported.
v1::RaftEntry entry(Index index, Term term, const std::string& data) {
  v1::RaftEntry e;
  e.set_index(index);
  e.set_term(term);
  e.set_type(v1::RAFT_ENTRY_TYPE_NORMAL);
  e.set_data(data);
  return e;
}

RaftLog log_of(const std::vector<std::pair<Term, std::string>>& entries) {
  RaftLog log;
  Index index = 0;
  for (const auto& [term, data] : entries) log.append(entry(++index, term, data));
  return log;
}

TEST(RaftCheckers, LeaderPerTermFailsOnASecondLeader) {
  LeaderPerTerm leaders;
  EXPECT_EQ(leaders.on_leader(2, "r1"), "");
  EXPECT_EQ(leaders.on_leader(2, "r1"), "");  // the same leader again is fine
  EXPECT_EQ(leaders.on_leader(3, "r2"), "");
  EXPECT_NE(leaders.on_leader(2, "r3"), "");
}

TEST(RaftCheckers, LogMatchingFailsOnDifferentDataOrPrefix) {
  struct Case {
    const char* what;
    RaftLog a;
    RaftLog b;
    bool fails;
  };
  const std::vector<Case> cases = {
      {"equal logs", log_of({{1, "x"}, {2, "y"}}), log_of({{1, "x"}, {2, "y"}}), false},
      {"b is a prefix", log_of({{1, "x"}, {2, "y"}}), log_of({{1, "x"}}), false},
      {"diverge at a new term", log_of({{1, "x"}, {2, "y"}}), log_of({{1, "x"}, {3, "z"}}), false},
      {"same index+term, other data", log_of({{1, "x"}, {2, "y"}}), log_of({{1, "x"}, {2, "q"}}),
       true},
      {"same index+term, other prefix", log_of({{1, "x"}, {2, "y"}}), log_of({{2, "x"}, {2, "y"}}),
       true},
  };
  for (const Case& c : cases) {
    LogRegistry registry;
    EXPECT_EQ(registry.check("r1", c.a), "") << c.what;
    EXPECT_EQ(!registry.check("r2", c.b).empty(), c.fails) << c.what;
  }
}

// The same replica's log checked again after an entry was rewritten in place with the same
// term: the cache must not skip it because its term did not change.
TEST(RaftCheckers, LogMatchingSeesAnEntryRewrittenWithTheSameTerm) {
  LogRegistry registry;
  EXPECT_EQ(registry.check("r1", log_of({{1, "x"}, {2, "y"}})), "");
  EXPECT_NE(registry.check("r1", log_of({{1, "x"}, {2, "q"}})), "");
}

TEST(RaftCheckers, LeaderAppendOnlyFailsOnAnOverwriteOrADeletion) {
  const RaftLog before = log_of({{1, "x"}, {2, "y"}});
  struct Case {
    const char* what;
    Term term;
    bool leading;
    RaftLog after;
    bool fails;
  };
  const std::vector<Case> cases = {
      {"appended", 2, true, log_of({{1, "x"}, {2, "y"}, {2, "z"}}), false},
      {"overwritten, same term", 2, true, log_of({{1, "x"}, {2, "q"}}), true},
      {"deleted", 2, true, log_of({{1, "x"}}), true},
      {"a new term starts over", 3, true, log_of({{1, "x"}}), false},
      {"a follower may truncate", 2, false, log_of({{1, "x"}}), false},
  };
  for (const Case& c : cases) {
    LeaderLog leader;
    EXPECT_EQ(leader.check(2, true, before), "") << c.what;
    EXPECT_EQ(!leader.check(c.term, c.leading, c.after).empty(), c.fails) << c.what;
  }
}

TEST(RaftCheckers, LeaderCompletenessFailsOnAMissingCommittedEntry) {
  const std::map<Index, History::EntryId> committed = {{1, {1, v1::RAFT_ENTRY_TYPE_NORMAL, "x"}},
                                                       {2, {2, v1::RAFT_ENTRY_TYPE_NORMAL, "y"}}};
  EXPECT_EQ(leader_completeness_error(committed, log_of({{1, "x"}, {2, "y"}, {3, "z"}})), "");
  EXPECT_NE(leader_completeness_error(committed, log_of({{1, "x"}})), "");
  EXPECT_NE(leader_completeness_error(committed, log_of({{1, "x"}, {3, "y"}})), "");
}

TEST(RaftCheckers, StateMachineSafetyFailsOnADifferentEntryAtOneIndex) {
  History history;
  history.on_apply("r1", entry(1, 1, "x"));
  history.on_apply("r2", entry(1, 1, "x"));
  EXPECT_EQ(history.apply_conflict, "");
  history.on_apply("r3", entry(1, 2, "y"));
  EXPECT_NE(history.apply_conflict, "");
}

TEST(RaftCheckers, LostAckFailsWhenOnlyAMinorityApplied) {
  ListMachine has;
  has.apply(entry(4, 2, "c7"));
  ListMachine lacks;
  const std::vector<History::Ack> acks = {{4, 2, "c7", 7}};
  EXPECT_EQ(lost_ack_error(acks, {&has, &has, &lacks}), "");
  EXPECT_NE(lost_ack_error(acks, {&has, &lacks, &lacks}), "");
  EXPECT_NE(lost_ack_error(acks, {&has, nullptr, nullptr}), "");
}

TEST(RaftCheckers, LivenessFailsWhenNothingCommitsAfterTheHeal) {
  // Every replica stays isolated after the heal would be a liveness failure; here the whole
  // network drops everything instead (a schedule cannot express that; the options can).
  RaftSimOptions options = options_for(3);
  options.network.drop_probability = 1.0;
  options.liveness_bound = std::chrono::seconds(1);
  const RunResult result = run_schedule(options, Schedule{});
  ASSERT_TRUE(result.violation.has_value());
  EXPECT_EQ(result.violation->invariant, "no acknowledged entry lost / liveness");
}

}  // namespace
}  // namespace omni::raft::props
