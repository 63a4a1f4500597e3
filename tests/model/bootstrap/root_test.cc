// The Root's epochs, resumption and failure reports.
#include "model/root/root.h"

#include <gtest/gtest.h>

#include "model/config/parse.h"
#include "model/core/sealed.h"
#include "model/director/director.h"
#include "model/root/plan.h"
#include "tests/model/bootstrap/outputs.h"

namespace omni::root {
namespace {

using omni::testing::all_of_type;
using omni::testing::at_s;
using omni::testing::sends_to;

RootConfig config() {
  RootConfig c;
  c.cluster = *config::parse_cluster_config(
                   "cluster: {name: t}\nnodes:\n"
                   "  - {name: n1, resources: {cpu: 8, memory: 16Gi}}\n"
                   "  - {name: n2, resources: {cpu: 8, memory: 16Gi}}\n"
                   "  - {name: n3, resources: {cpu: 8, memory: 16Gi}}\n",
                   "t")
                   .config;
  return c;
}

std::vector<std::string> disk_after(const Outputs& out, std::vector<std::string> disk = {}) {
  for (const auto& p : all_of_type<Persist>(out)) {
    if (p.replace) disk.clear();
    disk.push_back(p.record);
  }
  return disk;
}

// Started from `disk` at `at`, every node's hypervisor answering its list empty a second later:
// the root is in phase directors.
void start_to_directors(Root& root, Outputs& out, Time at, std::vector<std::string> disk = {}) {
  root.step(Start{at, std::move(disk)}, out);
  for (const auto& call : all_of_type<DriverCall>(out))
    root.step(DriverDone{at + 1s, call.op_id, {}}, out);
}

TEST(Root, PersistsItsEpochBeforeSendingAnything) {
  Root root(config());
  Outputs out;
  root.step(Start{at_s(0), {}}, out);
  EXPECT_EQ(root.epoch(), 1u);
  EXPECT_EQ(omni::testing::first_index<Persist>(out), 0);
  // preflight lists every node's hypervisor
  const auto calls = all_of_type<DriverCall>(out);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(std::get<VmOp>(calls[0].op).kind, VmOpKind::list);
}

TEST(Root, WalksPreflightAndPkiToDirectors) {
  Root root(config());
  Outputs out;
  root.step(Start{at_s(0), {}}, out);
  const auto lists = all_of_type<DriverCall>(out);
  out.clear();
  for (const auto& call : lists) root.step(DriverDone{at_s(1), call.op_id, DriverResult{}}, out);
  EXPECT_EQ(root.phase(), Phase::directors);
  const auto creates = all_of_type<DriverCall>(out);  // in the same step that finished pki
  ASSERT_EQ(creates.size(), 3u);
  EXPECT_EQ(std::get<VmOp>(creates[0].op).name, "t-n1-director");
  EXPECT_EQ(std::get<VmOp>(creates[0].op).node, "n1");
}

TEST(Root, ResumesWithAHigherEpochAndItsPhase) {
  Root first(config());
  Outputs out;
  start_to_directors(first, out, at_s(0));
  ASSERT_EQ(first.phase(), Phase::directors);
  Root second(config());
  Outputs out2;
  second.step(Start{at_s(5), disk_after(out)}, out2);
  EXPECT_EQ(second.epoch(), 2u);
  EXPECT_EQ(second.phase(), Phase::directors);
}

TEST(Root, StopsWhenAnotherRootHoldsAHigherEpoch) {
  Root root(config());
  Outputs out;
  start_to_directors(root, out, at_s(0));
  v1::Envelope e;
  auto* r = e.mutable_director_report();
  r->set_node("n2");
  r->mutable_accepted()->set_era(kRootEra);
  r->mutable_accepted()->set_term(7);
  r->set_rejected(true);
  out.clear();
  root.step(Deliver{at_s(2), "director:n2", e}, out);
  EXPECT_TRUE(root.failed());
  EXPECT_NE(root.failure().find("another omni init (epoch 7)"), std::string::npos)
      << root.failure();
  EXPECT_LT(omni::testing::first_index<Exit>(out), 0)
      << "the outcome is reported before the root goes";
  const auto progress = sends_to(out, kProgressAddress);
  ASSERT_FALSE(progress.empty());
  EXPECT_TRUE(progress.back().envelope.progress().failed());
  EXPECT_EQ(progress.back().envelope.progress().phase(), "directors");
  out.clear();
  root.step(Tick{at_s(3)}, out);
  EXPECT_EQ(omni::testing::first_index<Exit>(out), 0) << "and leaves at its next step";
  EXPECT_TRUE(all_of_type<Send>(out).empty());
}

TEST(Root, FailsAPhaseThatCannotFinishNamingIt) {
  RootConfig c = config();
  c.phase_timeout = 30s;
  Root root(c);
  Outputs out;
  root.step(Start{at_s(0), {}}, out);  // preflight; nobody answers the lists
  for (int s = 1; s <= 40 && !root.failed(); ++s) root.step(Tick{at_s(s)}, out);
  ASSERT_TRUE(root.failed());
  EXPECT_EQ(root.phase(), Phase::preflight);
  EXPECT_NE(root.failure().find("phase preflight did not finish"), std::string::npos)
      << root.failure();
}

TEST(Root, ADoneCheckpointExitsAtOnce) {
  v1::RootCheckpoint done;
  done.set_epoch(4);
  done.set_phase("done");
  Root root(config());
  Outputs out;
  root.step(Start{at_s(0), {seal(done.SerializeAsString())}}, out);
  EXPECT_GE(omni::testing::first_index<Exit>(out), 0);
  EXPECT_TRUE(all_of_type<DriverCall>(out).empty());
}

// A checkpoint whose bytes changed on disk is detected by its checksum and reported, never
// parsed into another phase or epoch: one flipped bit in the phase name must not skip phases.
TEST(Root, ACorruptCheckpointIsDetectedNotMisread) {
  v1::RootCheckpoint done;
  done.set_epoch(4);
  done.set_phase("done");
  std::string record = seal(done.SerializeAsString());
  record.back() = static_cast<char>(record.back() ^ 0x01);  // "donf": still parses as a proto
  Root root(config());
  Outputs out;
  root.step(Start{at_s(0), {record}}, out);
  EXPECT_EQ(root.corrupt_checkpoints(), 1u);
  EXPECT_EQ(root.phase(), Phase::preflight);
  EXPECT_EQ(root.epoch(), 1u) << "nothing was read from the bad record";
  EXPECT_LT(omni::testing::first_index<Exit>(out), 0);
  // A sound record of an epoch no init reaches is refused too: its number would not fit in the
  // root's message numbers.
  v1::RootCheckpoint huge;
  huge.set_epoch(kMaxEpoch);
  huge.set_phase("workers");
  Root other(config());
  Outputs out2;
  other.step(Start{at_s(0), {seal(huge.SerializeAsString())}}, out2);
  EXPECT_EQ(other.corrupt_checkpoints(), 1u);
  EXPECT_EQ(other.epoch(), 1u);
}

// The checkpoint is written twice: a damaged copy, either one, is skipped and the other keeps the
// epoch and phase. With one record, a damaged checkpoint sent the root back to epoch 1, below the
// epoch its Directors held, and the next run stopped as if another init controlled them.
TEST(Root, ADamagedCopyOfTheCheckpointLeavesTheOther) {
  Root first(config());
  Outputs out;
  start_to_directors(first, out, at_s(0));
  ASSERT_EQ(first.phase(), Phase::directors);
  const std::vector<std::string> disk = disk_after(out);
  ASSERT_EQ(disk.size(), 2u) << "two copies";
  for (std::size_t damaged = 0; damaged < disk.size(); ++damaged) {
    std::vector<std::string> on_disk = disk;
    on_disk[damaged].back() = static_cast<char>(on_disk[damaged].back() ^ 0x01);
    Root second(config());
    Outputs out2;
    second.step(Start{at_s(5), on_disk}, out2);
    EXPECT_EQ(second.corrupt_checkpoints(), 1u);
    EXPECT_EQ(second.epoch(), first.epoch() + 1) << "copy " << damaged << " damaged";
    EXPECT_EQ(second.phase(), Phase::directors);
  }
}

// A Director refuses a late command of the root's dead incarnation (it follows this one now) and
// says so to `root`, this incarnation's address: that refusal is no reason to stop. Only a
// refusal of this incarnation's own command (its numbers carry its epoch) is. The root failed
// init in phase workers on a dead incarnation's late message.
TEST(Root, ARefusalOfADeadIncarnationsCommandIsNoReasonToStop) {
  Root first(config());
  Outputs out;
  first.step(Start{at_s(0), {}}, out);
  Root root(config());
  Outputs now;
  start_to_directors(root, now, at_s(1), disk_after(out));
  ASSERT_EQ(root.epoch(), 2u);
  ASSERT_EQ(root.phase(), Phase::directors);
  // Each Director claimed at epoch 2 with its VM up: the root moves to phase workers.
  const auto report = [&](const std::string& node, std::uint64_t command_seq, bool rejected) {
    v1::Envelope e;
    auto* r = e.mutable_director_report();
    r->set_node(node);
    r->mutable_accepted()->set_era(kRootEra);
    r->mutable_accepted()->set_term(2);
    r->set_controller("root");
    r->set_command_seq(command_seq);
    r->set_rejected(rejected);
    if (rejected)
      r->set_reason("rejected root epoch 1: this Director is controlled at root epoch 2");
    return e;
  };
  for (const std::string node : {"n1", "n2", "n3"})
    root.step(Deliver{at_s(3), "director:" + node, report(node, 0, false)}, now);
  for (int s = 4; s < 8 && root.phase() != Phase::workers; ++s) root.step(Tick{at_s(s)}, now);
  ASSERT_EQ(root.phase(), Phase::workers);
  root.step(Deliver{at_s(8), "director:n2", report("n2", 5, true)}, now);  // the dead one's seq 5
  EXPECT_FALSE(root.failed()) << root.failure();
  root.step(Deliver{at_s(8), "director:n2", report("n2", (2ULL << 32) + 5, true)}, now);
  EXPECT_TRUE(root.failed()) << "a refusal of its own command stops it";
}

// The root believes answers about the plane only from Orchestrators: an Agent's `accepted` made
// it skip the hand-over for good, and a hint could send the hand-over anywhere.
TEST(Root, HearsOnlyOrchestratorsAboutThePlane) {
  v1::RootCheckpoint checkpoint;
  checkpoint.set_epoch(1);
  checkpoint.set_phase(std::string(phase_name(Phase::reg)));
  Root root(config());
  Outputs out;
  root.step(Start{at_s(0), {seal(checkpoint.SerializeAsString())}}, out);
  ASSERT_EQ(root.phase(), Phase::reg);
  v1::Envelope ack;
  ack.mutable_hand_over_ack()->set_accepted(true);
  root.step(Deliver{at_s(1), "agent:t-n1-worker-1", ack}, out);
  EXPECT_EQ(root.phase(), Phase::reg) << "an Agent's word for it";

  // A refusal from a member whose hint names a stranger: the next try goes to a member.
  v1::Envelope refused;
  refused.mutable_hand_over_ack()->set_accepted(false);
  refused.mutable_hand_over_ack()->set_leader_hint("agent:t-n1-worker-1");
  root.step(Deliver{at_s(2), "orchestrator:1", refused}, out);
  out.clear();
  for (int s = 3; s < 30 && all_of_type<Send>(out).empty(); ++s) root.step(Tick{at_s(s)}, out);
  bool handed = false;
  for (const auto& send : all_of_type<Send>(out)) {
    if (!send.envelope.has_hand_over()) continue;
    handed = true;
    EXPECT_EQ(send.to.rfind("orchestrator:", 0), 0u) << send.to;
  }
  EXPECT_TRUE(handed) << "the hand-over is tried again";

  root.step(Deliver{at_s(31), "orchestrator:1", ack}, out);
  EXPECT_EQ(root.phase(), Phase::takeover);
}

// A replica counts as running only in the VM the plan put it in: a container of its name that a
// node's Director reports in another VM of that node (one the plan never made, say) is not the
// replica the hand-over names, and the root must not register a plane that does not run there.
TEST(Root, AReplicaRunsOnlyInItsPlannedVm) {
  const RootConfig c = config();
  const auto plan = std::get<Plan>(make_plan(c.cluster));
  v1::RootCheckpoint checkpoint;
  checkpoint.set_epoch(1);
  checkpoint.set_phase(std::string(phase_name(Phase::orchestrators)));
  Root root(c);
  Outputs out;
  root.step(Start{at_s(0), {seal(checkpoint.SerializeAsString())}}, out);
  ASSERT_EQ(root.phase(), Phase::orchestrators);
  const auto report_all = [&](int at, bool in_planned_vm) {
    for (const auto& node : c.cluster.nodes) {
      v1::Envelope e;
      auto* r = e.mutable_director_report();
      r->set_node(node.name);
      r->set_controller(c.self);
      r->mutable_accepted()->set_era(kRootEra);
      r->mutable_accepted()->set_term(root.epoch());
      for (const auto& replica : plan.replicas) {
        if (replica.node != node.name) continue;
        auto* s = r->add_containers();
        s->set_name(replica.name);
        s->set_vm(in_planned_vm ? replica.vm : c.cluster.name + "-" + node.name + "-worker-9");
        s->set_running(true);
        s->set_replica(static_cast<std::uint32_t>(replica.replica));
      }
      root.step(Deliver{at_s(at), director::director_address(node.name), e}, out);
    }
    root.step(Tick{at_s(at)}, out);
  };
  report_all(1, false);
  EXPECT_EQ(root.phase(), Phase::orchestrators) << "every replica's name ran, none in its VM";
  report_all(2, true);
  EXPECT_EQ(root.phase(), Phase::reg);
}

TEST(Root, ReplicaArgsRoundTripThroughTheOrchestratorParser) {
  const auto args = Root::replica_args(2, {"orchestrator:1", "orchestrator:2", "orchestrator:3"});
  EXPECT_EQ(args[1], "--replica=2");
  EXPECT_EQ(args[2], "--members=orchestrator:1,orchestrator:2,orchestrator:3");
}

}  // namespace
}  // namespace omni::root
