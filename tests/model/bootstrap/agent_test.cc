// The Agent: runs what its Director asks within the VM, restarts with bounded back-off.
#include "model/agent/agent.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/model/bootstrap/outputs.h"

namespace omni::agent {
namespace {

using omni::testing::all_of_type;
using omni::testing::at_s;

AgentConfig config() {
  AgentConfig c;
  c.vm = "t-n1-worker-1";
  c.director = "director:n1";
  c.capacity = {4000, 8LL << 30};
  return c;
}

v1::Envelope run(std::uint64_t generation, std::int64_t memory_bytes) {
  v1::Envelope e;
  auto* r = e.mutable_run_containers();
  r->set_generation(generation);
  auto* c = r->add_containers();
  c->set_name("t-orchestrator-1");
  c->set_image("omni/orchestrator");
  c->set_replica(1);
  c->mutable_resources()->set_cpu_millis(1000);
  c->mutable_resources()->set_memory_bytes(memory_bytes);
  return e;
}

// Generation 1: an Orchestrator replica and an app container, no app lease given.
v1::Envelope replica_and_app() {
  v1::Envelope both = run(1, 1LL << 30);
  auto* app = both.mutable_run_containers()->add_containers();
  app->set_name("t-web-1");
  app->set_image("omni/demo-web");
  app->mutable_resources()->set_cpu_millis(100);
  app->mutable_resources()->set_memory_bytes(64LL << 20);
  return both;
}

TEST(Backoff, DoublesFromMinToMax) {
  struct Case {
    Duration current, expected;
  };
  const std::vector<Case> cases{{0ns, 500ms}, {500ms, 1s}, {1s, 2s}, {16s, 30s}, {30s, 30s}};
  for (const auto& c : cases) EXPECT_EQ(next_backoff(c.current, 500ms, 30s), c.expected);
}

// Steps the Agent and remembers its latest list call, which the test answers as the runtime.
struct Harness {
  Agent agent{config()};
  Outputs out;
  std::uint64_t list_op = 0;

  void step(const Input& input) {
    out.clear();
    agent.step(input, out);
    for (const auto& c : all_of_type<DriverCall>(out))
      if (std::get<ContainerOp>(c.op).kind == ContainerOpKind::list) list_op = c.op_id;
  }
  void start() { step(Start{at_s(0), {}}); }
  // Answers the pending list (every container, and which run) as a runtime sorts it; a poll is
  // issued on the next tick after poll_interval.
  void listed(Time now, std::vector<std::string> running, std::vector<std::string> exited = {}) {
    DriverResult r;
    r.running = running;
    r.names = std::move(running);
    r.names.insert(r.names.end(), exited.begin(), exited.end());
    std::sort(r.names.begin(), r.names.end());
    std::sort(r.running.begin(), r.running.end());
    step(DriverDone{now, list_op, r});
  }
  std::vector<std::string> removed() const {
    std::vector<std::string> names;
    for (const auto& c : all_of_type<DriverCall>(out)) {
      const auto& op = std::get<ContainerOp>(c.op);
      if (op.kind == ContainerOpKind::remove) names.push_back(op.name);
    }
    return names;
  }
  std::vector<DriverCall> creates() const {
    std::vector<DriverCall> found;
    for (const auto& c : all_of_type<DriverCall>(out))
      if (std::get<ContainerOp>(c.op).kind == ContainerOpKind::create) found.push_back(c);
    return found;
  }
};

TEST(Agent, PersistsTheDesiredSetBeforeRunningIt) {
  Harness h;
  h.start();
  h.listed(at_s(1), {});
  h.step(Deliver{at_s(1), "director:n1", run(1, 2LL << 30)});
  const int persist = omni::testing::first_index<Persist>(h.out);
  const int call = omni::testing::first_index<DriverCall>(h.out);
  ASSERT_GE(persist, 0);
  ASSERT_GE(call, 0);
  EXPECT_LT(persist, call);
  ASSERT_EQ(h.creates().size(), 1u);
  EXPECT_EQ(std::get<ContainerOp>(h.creates()[0].op).name, "t-orchestrator-1");
}

// The host imports a missing image from the container's archive, so the create carries it.
TEST(Agent, ACreateCarriesTheContainersArchive) {
  Harness h;
  h.start();
  h.listed(at_s(1), {});
  v1::Envelope e = run(1, 1LL << 30);
  e.mutable_run_containers()->mutable_containers(0)->set_archive("/srv/images/orchestrator.tar");
  h.step(Deliver{at_s(1), "director:n1", e});
  ASSERT_EQ(h.creates().size(), 1u);
  EXPECT_EQ(std::get<ContainerOp>(h.creates()[0].op).archive, "/srv/images/orchestrator.tar");
}

// A container a newer set dropped while its create was in flight may still start: the Agent's
// reports list it (not running) until it is gone, and it is removed as soon as it started. The
// reports left it out, and the leader could take its absence for a copy that cannot run.
TEST(Agent, ACreateInFlightThatANewerSetDroppedIsListedAndRemovedOnceStarted) {
  Harness h;
  h.start();
  h.listed(at_s(1), {});
  h.step(Deliver{at_s(1), "director:n1", run(1, 1LL << 30)});
  ASSERT_EQ(h.creates().size(), 1u);
  const std::uint64_t create = h.creates()[0].op_id;
  v1::Envelope none;
  none.mutable_run_containers()->set_generation(2);
  h.step(Deliver{at_s(2), "director:n1", none});
  const auto reports = omni::testing::sends_to(h.out, "director:n1");
  ASSERT_FALSE(reports.empty());
  const auto& listed = reports.back().envelope.agent_report().containers();
  ASSERT_EQ(listed.size(), 1) << "the create in flight is listed";
  EXPECT_EQ(listed[0].name(), "t-orchestrator-1");
  EXPECT_FALSE(listed[0].running());
  h.step(DriverDone{at_s(3), create, DriverResult{}});
  EXPECT_EQ(h.removed(), std::vector<std::string>{"t-orchestrator-1"}) << "removed at once";
}

TEST(Agent, RefusesContainersBeyondTheVm) {
  Harness h;
  h.start();
  h.step(Deliver{at_s(1), "director:n1", run(1, 9LL << 30)});
  const auto reports = omni::testing::sends_to(h.out, "director:n1");
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].envelope.agent_report().rejected());
  EXPECT_NE(reports[0].envelope.agent_report().reason().find("not enough memory"),
            std::string::npos);
  EXPECT_TRUE(h.agent.desired().empty());
}

// Resources come from the wire: a negative or absurd request is refused with a reason, never
// asserted on (two of them could otherwise cancel out, or a sum overflow). So is zero, which a
// runtime takes as no limit at all.
TEST(Agent, RefusesResourcesOutOfRange) {
  v1::Envelope no_cpu = run(1, 1LL << 30);
  no_cpu.mutable_run_containers()->mutable_containers(0)->mutable_resources()->set_cpu_millis(0);
  for (const v1::Envelope& asked : {run(1, -1), run(1, std::int64_t{1} << 62), run(1, 0), no_cpu}) {
    SCOPED_TRACE(asked.ShortDebugString());
    Harness h;
    h.start();
    h.step(Deliver{at_s(1), "director:n1", asked});
    const auto reports = omni::testing::sends_to(h.out, "director:n1");
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_TRUE(reports[0].envelope.agent_report().rejected());
    EXPECT_NE(reports[0].envelope.agent_report().reason().find("out of range"), std::string::npos);
    EXPECT_TRUE(h.agent.desired().empty());
  }
}

TEST(Agent, IgnoresStrangersAndOlderGenerations) {
  Harness h;
  h.start();
  h.out.clear();
  h.agent.step(Deliver{at_s(1), "director:n2", run(1, 1LL << 30)}, h.out);
  EXPECT_TRUE(h.agent.desired().empty());
  h.agent.step(Deliver{at_s(1), "director:n1", run(3, 1LL << 30)}, h.out);
  h.agent.step(Deliver{at_s(1), "director:n1", run(2, 1LL << 30)}, h.out);
  EXPECT_EQ(h.agent.generation(), 3u);
}

// What the Agent does not want goes, whether it still runs or exited long ago (a replica moved
// away, a container of an older desired set); what it wants and exited is restarted instead.
TEST(Agent, RemovesUnwantedContainersRunningOrNot) {
  Harness h;
  h.start();
  h.listed(at_s(0), {});
  h.step(Deliver{at_s(0), "director:n1", run(1, 1LL << 30)});
  h.step(DriverDone{at_s(1), h.creates().at(0).op_id, DriverResult{}});
  h.step(Tick{at_s(10)});
  h.listed(at_s(10), {"t-orchestrator-1", "t-stranger-running"}, {"t-stranger-exited"});
  EXPECT_EQ(h.removed(), (std::vector<std::string>{"t-stranger-exited", "t-stranger-running"}));
  EXPECT_TRUE(h.creates().empty());
  EXPECT_TRUE(h.agent.containers().at("t-orchestrator-1").running);

  // The wanted one exited: restarted after its back-off, never removed.
  h.step(Tick{at_s(20)});
  h.listed(at_s(20), {}, {"t-orchestrator-1"});
  EXPECT_TRUE(h.removed().empty());
  EXPECT_FALSE(h.agent.containers().at("t-orchestrator-1").running);
  Time now = at_s(20);
  while (h.creates().empty() && now < at_s(60)) h.step(Tick{now += 100ms});
  ASSERT_EQ(h.creates().size(), 1u);
  EXPECT_TRUE(h.removed().empty());
}

// A running container whose desired spec changed (here its memory) is removed and created again
// from the new spec; one whose spec is the same is left alone.
TEST(Agent, ReplacesARunningContainerWhoseSpecChanged) {
  Harness h;
  h.start();
  h.listed(at_s(0), {});
  h.step(Deliver{at_s(0), "director:n1", run(1, 1LL << 30)});
  h.step(DriverDone{at_s(1), h.creates().at(0).op_id, DriverResult{}});
  h.step(Deliver{at_s(2), "director:n1", run(2, 1LL << 30)});
  EXPECT_TRUE(h.removed().empty()) << "the same spec under a new generation changes nothing";
  h.step(Deliver{at_s(3), "director:n1", run(3, 2LL << 30)});
  ASSERT_EQ(h.removed(), (std::vector<std::string>{"t-orchestrator-1"}));
  EXPECT_EQ(h.agent.replacements(), 1u);
  const auto remove = all_of_type<DriverCall>(h.out).back();
  h.step(DriverDone{at_s(4), remove.op_id, DriverResult{}});
  Time now = at_s(4);
  while (h.creates().empty() && now < at_s(30)) h.step(Tick{now += 100ms});
  ASSERT_EQ(h.creates().size(), 1u);
  EXPECT_EQ(std::get<ContainerOp>(h.creates()[0].op).memory_bytes, 2LL << 30);
}

// A container that keeps dying is restarted after 500ms, 1s, 2s, ... never faster.
TEST(Agent, RestartsACrashedContainerWithGrowingBackoff) {
  Harness h;
  h.start();
  h.listed(at_s(0), {});
  h.step(Deliver{at_s(0), "director:n1", run(1, 1LL << 30)});
  std::uint64_t create = h.creates().at(0).op_id;
  Time now = at_s(1);
  std::vector<Duration> waits;
  for (int crash = 0; crash < 4; ++crash) {
    h.step(DriverDone{now, create, DriverResult{}});  // started
    now += 2s;
    h.step(Tick{now});  // polls the runtime
    h.listed(now, {});  // ...which says the container is gone
    EXPECT_TRUE(h.creates().empty()) << "no restart before the back-off";
    const Time crashed = now;
    while (h.creates().empty()) {
      now += 100ms;
      h.step(Tick{now});
      ASSERT_LT(now - crashed, 60s);
    }
    waits.push_back(now - crashed);
    create = h.creates().at(0).op_id;
  }
  ASSERT_EQ(waits.size(), 4u);
  for (std::size_t i = 1; i < waits.size(); ++i) EXPECT_GT(waits[i], waits[i - 1]);
  EXPECT_GE(waits[0], 500ms);
  EXPECT_EQ(h.agent.containers().at("t-orchestrator-1").restarts, 4u);
}

// An app container runs only for the time its Director's last set gave: an Agent whose Director
// died or was cut off stops its apps before the leader moves them (it moves them only after
// apps_move_after of silence). Orchestrator replicas are not leased.
TEST(Agent, RunsAppsOnlyForTheTimeItsDirectorGave) {
  Harness h;
  h.start();
  h.listed(at_s(0), {});
  v1::Envelope both = replica_and_app();
  h.step(Deliver{at_s(1), "director:n1", both});
  std::vector<std::string> created;
  for (const auto& c : h.creates()) created.push_back(std::get<ContainerOp>(c.op).name);
  EXPECT_EQ(created, std::vector<std::string>{"t-orchestrator-1"}) << "no time given, no app";

  both.mutable_run_containers()->set_app_lease_ms(9000);
  h.step(Deliver{at_s(2), "director:n1", both});
  ASSERT_EQ(h.creates().size(), 1u);
  EXPECT_EQ(std::get<ContainerOp>(h.creates()[0].op).name, "t-web-1");
  for (const auto& c : all_of_type<DriverCall>(h.out))
    h.step(DriverDone{at_s(2), c.op_id, DriverResult{}});
  h.step(Tick{at_s(10)});
  EXPECT_TRUE(h.removed().empty()) << "still within the nine seconds";
  h.step(Tick{at_s(11)});
  EXPECT_EQ(h.removed(), std::vector<std::string>{"t-web-1"}) << "only the app stops";

  // A set that grants more than any Director would is refused whole, as damaged.
  v1::Envelope greedy = both;
  greedy.mutable_run_containers()->set_generation(2);
  greedy.mutable_run_containers()->set_app_lease_ms(std::uint64_t{1} << 62);
  h.step(Deliver{at_s(12), "director:n1", greedy});
  EXPECT_TRUE(h.creates().empty());
  EXPECT_EQ(h.agent.generation(), 1u);
  const auto reports = omni::testing::sends_to(h.out, "director:n1");
  ASSERT_FALSE(reports.empty());
  EXPECT_TRUE(reports.back().envelope.agent_report().rejected());
}

}  // namespace
}  // namespace omni::agent

namespace omni::agent {
namespace {

// Back from a power loss with its checkpoint, the Agent brings back its Orchestrator replica on
// its own, but not its app: the app may have moved while it was down, and waits for its
// Director (who holds the app lease) to ask for it again.
TEST(Agent, AfterARestartOnlyTheReplicasComeBackOnTheirOwn) {
  Harness first;
  first.start();
  first.listed(at_s(0), {});
  v1::Envelope both = replica_and_app();
  both.mutable_run_containers()->set_app_lease_ms(9000);
  first.step(Deliver{at_s(1), "director:n1", both});
  const auto persisted = all_of_type<Persist>(first.out);
  ASSERT_EQ(persisted.size(), 1u);
  ASSERT_EQ(first.creates().size(), 2u);

  Harness again;
  again.step(Start{at_s(100), {persisted.front().record}});
  again.listed(at_s(100), {}, {"t-orchestrator-1", "t-web-1"});
  std::vector<std::string> created;
  for (const auto& c : again.creates()) created.push_back(std::get<ContainerOp>(c.op).name);
  EXPECT_EQ(created, std::vector<std::string>{"t-orchestrator-1"});
  EXPECT_EQ(again.removed(), std::vector<std::string>{"t-web-1"});
  std::uint64_t remove_op = 0;
  for (const auto& c : all_of_type<DriverCall>(again.out))
    if (std::get<ContainerOp>(c.op).kind == ContainerOpKind::remove) remove_op = c.op_id;
  again.step(DriverDone{at_s(100), remove_op, DriverResult{}});
  // Its Director asks for both again (same generation: its lease is live): the app runs again.
  again.step(Deliver{at_s(101), "director:n1", both});
  created.clear();
  for (const auto& c : again.creates()) created.push_back(std::get<ContainerOp>(c.op).name);
  EXPECT_EQ(created, std::vector<std::string>{"t-web-1"});
}

}  // namespace
}  // namespace omni::agent
