// The checkers are not blind: broken components (test-only knobs) must make them fire.
#include <gtest/gtest.h>

#include "model/director/director.h"
#include "sim/cluster/invariants.h"
#include "sim/cluster/run.h"
#include "sim/simulation.h"
#include "tests/scenarios/load.h"

namespace omni::sim {
namespace {

// Sends one message to the Director at a given time, as a controller would.
class OneShot final : public Component {
 public:
  OneShot(v1::Envelope message, Duration after) : message_(std::move(message)), after_(after) {}
  void step(const Input& input, Outputs& out) override {
    if (std::holds_alternative<Start>(input)) {
      out.push_back(WakeAt{now_of(input) + after_});
    } else if (std::holds_alternative<Tick>(input) && !sent_) {
      sent_ = true;
      out.push_back(Send{"director:n1", message_});
    }
  }

 private:
  v1::Envelope message_;
  Duration after_;
  bool sent_ = false;
};

v1::Envelope take_control(std::uint64_t term) {
  v1::Envelope e;
  e.mutable_take_control()->mutable_fence()->set_era(kClusterEra);
  e.mutable_take_control()->mutable_fence()->set_term(term);
  return e;
}

v1::Envelope root_claim(std::uint64_t epoch) {
  v1::Envelope e;
  auto* c = e.mutable_director_command();
  c->mutable_fence()->set_era(kRootEra);
  c->mutable_fence()->set_term(epoch);
  c->mutable_claim();
  return e;
}

std::optional<Violation> run_director(bool broken, v1::Envelope late, const Address& late_sender) {
  Simulation sim(SimConfig{.seed = 3});
  director::DirectorConfig c;
  c.node = "n1";
  c.own_vm = "t-n1-director";
  c.capacity = {8000, 32LL << 30};
  c.director_vm = {1000, 1LL << 30};
  c.testing_accept_stale_fence = broken;
  sim.add_process("director:n1", [c](Rng) { return std::make_unique<director::Director>(c); });
  sim.add_process("orchestrator:1",
                  [](Rng) { return std::make_unique<OneShot>(take_control(5), 1s); });
  sim.add_process(late_sender, [late](Rng) { return std::make_unique<OneShot>(late, 2s); });
  sim.add_checker(make_director_fencing(sim));
  sim.run_for(5s);
  return sim.violation();
}

TEST(NotBlind, FencingCatchesADirectorThatAcceptsAStaleTerm) {
  EXPECT_FALSE(run_director(false, take_control(3), "orchestrator:2").has_value())
      << "a sound Director refuses";
  const auto v = run_director(true, take_control(3), "orchestrator:2");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->invariant, "director_fencing");
  EXPECT_NE(v->message.find("after accepting cluster term 5"), std::string::npos) << v->message;
}

TEST(NotBlind, FencingCatchesARootCommandExecutedAfterTakeover) {
  EXPECT_FALSE(run_director(false, root_claim(9), "root").has_value());
  const auto v = run_director(true, root_claim(9), "root");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->invariant, "director_fencing");
}

TEST(NotBlind, CatchesARootThatKeepsActingAfterTeardown) {
  const Scenario s = testing::load_scenario("scenarios/bootstrap.yaml");
  EXPECT_TRUE(run_scenario(s, 1).passed);
  const RunResult r = run_scenario(s, 1, RunOptions{.testing_root_acts_after_teardown = true});
  ASSERT_TRUE(r.violation.has_value());
  EXPECT_EQ(r.violation->invariant, "root_leaves_after_teardown");
}

TEST(NotBlind, MembershipCatchesALeaderThatRemovesARunningMember) {
  const Scenario s = testing::load_scenario("scenarios/bootstrap.yaml");
  EXPECT_TRUE(run_scenario(s, 1).passed);
  const RunResult r =
      run_scenario(s, 1, RunOptions{.testing_leader_removes_a_running_member = true});
  ASSERT_TRUE(r.violation.has_value());
  EXPECT_EQ(r.violation->invariant, "membership_keeps_quorum");
  EXPECT_NE(r.violation->message.find("running voters beyond quorum"), std::string::npos)
      << r.violation->message;
}

// Over-commit is judged against the model's own decisions: with infrastructure that accepts
// anything, a scheduler that ignores capacity is caught by the checker; with infrastructure
// that refuses, the same scheduler over-commits nothing (the refusal is not the model's merit,
// which is why the checker is run against an accepting one).
TEST(NotBlind, OverCommitCatchesASchedulerThatIgnoresCapacity) {
  const Scenario s = testing::load_scenario("scenarios/apps-overcommit.yaml");
  EXPECT_TRUE(
      run_scenario(s, 1, RunOptions{.testing_infrastructure_accepts_overcommit = true}).passed)
      << "a sound scheduler over-commits nothing even where it could";
  const RunResult refused = run_scenario(s, 1, RunOptions{.testing_model_ignores_capacity = true});
  EXPECT_TRUE(!refused.violation || refused.violation->invariant != "no_overcommit_no_duplicates");
  const RunResult r = run_scenario(s, 1,
                                   RunOptions{.testing_infrastructure_accepts_overcommit = true,
                                              .testing_model_ignores_capacity = true});
  ASSERT_TRUE(r.violation.has_value());
  EXPECT_EQ(r.violation->invariant, "no_overcommit_no_duplicates");
  EXPECT_NE(r.violation->message.find("is over-committed"), std::string::npos)
      << r.violation->message;
}

// A cold start where every Orchestrator comes back with an empty disk: the replicas elect a
// leader that lacks what was committed before, which committed_entries_kept must catch.
TEST(NotBlind, CommittedEntriesCatchesDisksThatForgetSyncedWrites) {
  const Scenario s = testing::load_scenario("scenarios/cold-start.yaml");
  EXPECT_TRUE(run_scenario(s, 1).passed);
  const RunResult r = run_scenario(s, 1, RunOptions{.testing_orchestrator_disks_forget = true});
  ASSERT_TRUE(r.violation.has_value());
  EXPECT_EQ(r.violation->invariant, "committed_entries_kept");
  EXPECT_NE(r.violation->message.find("lacks the committed entry"), std::string::npos)
      << r.violation->message;
}

// Two roots at one epoch split the Directors between them (each Director takes the first to
// claim it). Sound roots see the other's name in a Director's report and stop; roots blind to
// each other each act on their share, which per-Director fencing cannot see and single_root
// must.
TEST(NotBlind, SingleRootCatchesTwoRootsActingAtOnce) {
  const Scenario s = testing::load_scenario("scenarios/bootstrap.yaml");
  const RunResult sound = run_scenario(s, 1, RunOptions{.testing_second_root = true});
  ASSERT_TRUE(sound.violation.has_value()) << "two roots that split the Directors cannot finish";
  EXPECT_EQ(sound.violation->invariant, "init_completes") << sound.violation->to_string();
  EXPECT_NE(sound.violation->message.find("another omni init"), std::string::npos)
      << sound.violation->message;
  const RunResult r = run_scenario(
      s, 1, RunOptions{.testing_second_root = true, .testing_roots_blind_to_each_other = true});
  ASSERT_TRUE(r.violation.has_value());
  EXPECT_EQ(r.violation->invariant, "single_root");
  EXPECT_NE(r.violation->message.find("while"), std::string::npos) << r.violation->message;
}

// Orchestrators whose Raft grants a vote to every candidate: two leaders in one term, which
// election_safety must name. Several seeds, since it takes concurrent candidates (their election
// timeouts all but equal make those common).
TEST(NotBlind, ElectionSafetyCatchesTwoLeadersInOneTerm) {
  const Scenario s = testing::load_scenario("scenarios/leader-crash.yaml");
  std::optional<Violation> found;
  for (std::uint64_t seed = 1; seed <= 40 && !found; ++seed) {
    const RunResult r = run_scenario(s, seed, RunOptions{.testing_voters_grant_twice = true});
    if (r.violation && r.violation->invariant == "election_safety") found = r.violation;
  }
  ASSERT_TRUE(found.has_value()) << "no two leaders in one term in 40 seeds";
  EXPECT_NE(found->message.find("two leaders in term"), std::string::npos) << found->message;
}

// Two replicas that apply different entries at one index: state_machine_safety names both.
TEST(NotBlind, StateMachineSafetyCatchesTwoEntriesAtOneIndex) {
  Simulation sim(SimConfig{.seed = 1});
  AppliedEntries applied(sim);
  applied.on_apply("orchestrator:1", 7, 2, "place replica 4");
  applied.on_apply("orchestrator:2", 7, 2, "place replica 4");
  EXPECT_FALSE(sim.violation().has_value()) << "the same entry twice is fine";
  applied.on_apply("orchestrator:3", 7, 3, "retire replica 1");
  ASSERT_TRUE(sim.violation().has_value());
  EXPECT_EQ(sim.violation()->invariant, "state_machine_safety");
  EXPECT_NE(sim.violation()->message.find("orchestrator:3 applied a different entry at index 7"),
            std::string::npos)
      << sim.violation()->message;
}

// Answers every message with two: a storm, which bounded_event_queue stops.
class Storm final : public Component {
 public:
  explicit Storm(Address peer) : peer_(std::move(peer)) {}
  void step(const Input& input, Outputs& out) override {
    if (std::holds_alternative<Start>(input) || std::holds_alternative<Deliver>(input))
      for (int i = 0; i < 2; ++i) out.push_back(Send{peer_, v1::Envelope{}});
  }

 private:
  Address peer_;
};

TEST(NotBlind, BoundedQueueCatchesAMessageStorm) {
  Simulation sim(SimConfig{.seed = 1});
  sim.add_process("a", [](Rng) { return std::make_unique<Storm>("b"); });
  sim.add_process("b", [](Rng) { return std::make_unique<Storm>("a"); });
  sim.add_checker(make_bounded_queue(sim, 10'000));
  sim.run_for(10s);
  ASSERT_TRUE(sim.violation().has_value());
  EXPECT_EQ(sim.violation()->invariant, "bounded_event_queue");
  EXPECT_NE(sim.violation()->message.find("a message storm"), std::string::npos);
}

// A scenario's faults are all queued when the run starts: a swarm of a thousand simulated hours
// queues some 300,000 of them, which are not a storm.
TEST(NotBlind, BoundedQueueDoesNotCountScheduledFaults) {
  Simulation sim(SimConfig{.seed = 1});
  sim.add_checker(make_bounded_queue(sim, 1'000));
  for (int i = 1; i <= 5'000; ++i) sim.at(Time{std::chrono::seconds(i)}, [](Simulation&) {});
  sim.add_process("a", [](Rng) { return std::make_unique<Storm>("b"); });
  sim.add_process("b", [](Rng) { return std::make_unique<Storm>("a"); });
  sim.run_for(10s);
  ASSERT_TRUE(sim.violation().has_value()) << "the messages are still counted";
  EXPECT_EQ(sim.violation()->invariant, "bounded_event_queue");
  const std::string& message = sim.violation()->message;
  EXPECT_LT(std::stoul(message), 1'100u) << "what is counted is what passed the limit: " << message;

  Simulation quiet(SimConfig{.seed = 1});
  quiet.add_checker(make_bounded_queue(quiet, 1'000));
  for (int i = 1; i <= 5'000; ++i) quiet.at(Time{std::chrono::seconds(i)}, [](Simulation&) {});
  EXPECT_EQ(quiet.run_for(10s), RunStatus::deadline);
  EXPECT_FALSE(quiet.violation().has_value()) << quiet.violation()->to_string();
}

// A leader that wants one app replica on two nodes: the duplicate checker names it.
// Each node in turn is cut off from the other two (the clients on root-host reach both sides).
// When the leader is the one cut off, a leader that reads without a read index and never steps
// down keeps answering reads from a state the new leader's writes have left behind.
TEST(NotBlind, LinearizableCatchesADeposedLeaderServingReads) {
  const Scenario scenario = testing::parse_scenario_text(testing::kStaleReadsScenario);
  for (std::uint64_t seed = 1; seed <= 3; ++seed)
    ASSERT_TRUE(run_scenario(scenario, seed).passed) << "seed " << seed << " with sound reads";
  std::optional<Violation> found;
  for (std::uint64_t seed = 1; seed <= 10 && !found; ++seed)
    found =
        run_scenario(scenario, seed, RunOptions{.testing_leaders_read_locally = true}).violation;
  ASSERT_TRUE(found.has_value()) << "no stale read caught in 10 seeds";
  EXPECT_EQ(found->invariant, "linearizable");
  EXPECT_NE(found->message.find("not linearizable"), std::string::npos) << found->message;
}

TEST(NotBlind, DuplicatesCatchesAnAppReplicaRunningTwice) {
  const Scenario s = testing::load_scenario("scenarios/apps.yaml");
  EXPECT_TRUE(run_scenario(s, 1).passed);
  const RunResult r =
      run_scenario(s, 1, RunOptions{.testing_leader_duplicates_an_app_replica = true});
  ASSERT_TRUE(r.violation.has_value());
  EXPECT_EQ(r.violation->invariant, "no_overcommit_no_duplicates");
  EXPECT_NE(r.violation->message.find("runs twice"), std::string::npos) << r.violation->message;
}

}  // namespace
}  // namespace omni::sim
