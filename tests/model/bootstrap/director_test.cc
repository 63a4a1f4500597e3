// The Director's fencing and capacity rules, as input -> expected output tables.
#include "model/director/director.h"

#include <gtest/gtest.h>

#include <functional>

#include "tests/model/bootstrap/outputs.h"

namespace omni::director {
namespace {

using omni::testing::at_s;
using omni::testing::sends_to;

DirectorConfig config() {
  DirectorConfig c;
  c.node = "n1";
  c.own_vm = "t-n1-director";
  c.capacity = {8000, 16LL << 30};
  c.director_vm = {1000, 1LL << 30};
  // The lease tests count seconds from a 10 s lease, whatever the product's default is.
  c.app_lease = std::chrono::seconds(10);
  return c;
}

v1::Envelope claim(std::uint32_t era, std::uint64_t term) {
  v1::Envelope e;
  e.set_seq(7);
  auto* c = e.mutable_director_command();
  c->mutable_fence()->set_era(era);
  c->mutable_fence()->set_term(term);
  c->mutable_claim();
  return e;
}

v1::Envelope take_control(std::uint64_t term) {
  v1::Envelope e;
  e.mutable_take_control()->mutable_fence()->set_era(kClusterEra);
  e.mutable_take_control()->mutable_fence()->set_term(term);
  return e;
}

// What a restart would read: the records persisted, each replace starting afresh.
std::vector<std::string> disk_of(const Outputs& out) {
  std::vector<std::string> disk;
  for (const auto& p : omni::testing::all_of_type<Persist>(out)) {
    if (p.replace) disk.clear();
    disk.push_back(p.record);
  }
  return disk;
}

v1::DirectorReport answer_to(const Outputs& out, const Address& to) {
  const auto sends = sends_to(out, to);
  EXPECT_EQ(sends.size(), 1u);
  return sends.empty() ? v1::DirectorReport{} : sends.back().envelope.director_report();
}

struct FenceCase {
  std::string what;
  Address from;
  v1::Envelope message;
  bool rejected;
  FenceValue held_after;
  bool answered = true;  // a refusal is reported; a sender who may not hold the era gets nothing
};

TEST(Director, FencingTable) {
  const std::vector<FenceCase> cases{
      {"first root claims", "root", claim(kRootEra, 1), false, {kRootEra, 1}},
      {"same epoch from another root is refused",
       "root-b",
       claim(kRootEra, 1),
       true,
       {kRootEra, 1}},
      {"a newer root epoch wins", "root", claim(kRootEra, 2), false, {kRootEra, 2}},
      {"an older root epoch is refused", "root", claim(kRootEra, 1), true, {kRootEra, 2}},
      {"the leader takes control at term 3",
       "orchestrator:1",
       take_control(3),
       false,
       {kClusterEra, 3}},
      {"no root epoch is accepted after takeover",
       "root",
       claim(kRootEra, 99),
       true,
       {kClusterEra, 3}},
      {"a stale leader is refused", "orchestrator:2", take_control(2), true, {kClusterEra, 3}},
      {"a newer leader wins", "orchestrator:2", take_control(4), false, {kClusterEra, 4}},
      {"take-control in the root era is ignored",
       "root",
       [] {
         v1::Envelope e = take_control(9);
         e.mutable_take_control()->mutable_fence()->set_era(kRootEra);
         return e;
       }(),
       true,
       {kClusterEra, 4},
       false},
      // Any holder of a cluster certificate can send these: an Agent with the highest fence
      // became the controller for good, and could destroy the node's VMs.
      {"an Agent taking control is ignored",
       "agent:t-n1-worker-1",
       take_control(UINT64_MAX),
       true,
       {kClusterEra, 4},
       false},
      {"an Agent's command at the highest fence is ignored",
       "agent:t-n1-worker-1",
       [] {
         v1::Envelope e = claim(kClusterEra, UINT64_MAX);
         e.mutable_director_command()->mutable_ensure_workers();
         return e;
       }(),
       true,
       {kClusterEra, 4},
       false},
      {"an Orchestrator's claim in the root era is ignored",
       "orchestrator:1",
       claim(kRootEra, UINT64_MAX),
       true,
       {kClusterEra, 4},
       false},
      {"an unknown era is ignored", "orchestrator:1", claim(7, 1), true, {kClusterEra, 4}, false},
  };
  Director d(config());
  Outputs out;
  d.step(Start{at_s(0), {}}, out);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    out.clear();
    d.step(Deliver{at_s(1), c.from, c.message}, out);
    EXPECT_EQ(d.accepted(), c.held_after);
    if (!c.answered) {
      EXPECT_TRUE(out.empty()) << "neither an answer nor a checkpoint";
      continue;
    }
    const v1::DirectorReport r = answer_to(out, c.from);
    EXPECT_EQ(r.rejected(), c.rejected) << r.reason();
    EXPECT_EQ(fence_of(r.accepted()), c.held_after);
  }
  EXPECT_EQ(d.controller(), "orchestrator:2");
}

TEST(Director, PersistsBeforeItAnswers) {
  Director d(config());
  Outputs out;
  d.step(Start{at_s(0), {}}, out);
  out.clear();
  d.step(Deliver{at_s(1), "root", claim(kRootEra, 1)}, out);
  const int persist = omni::testing::first_index<Persist>(out);
  int report = -1;
  for (std::size_t i = 0; i < out.size(); ++i)
    if (const auto* s = std::get_if<Send>(&out[i]); s && s->envelope.has_director_report())
      report = static_cast<int>(i);
  ASSERT_GE(persist, 0);
  ASSERT_GE(report, 0);
  EXPECT_LT(persist, report);
}

TEST(Director, RestartKeepsTheFence) {
  Director first(config());
  Outputs out;
  first.step(Start{at_s(0), {}}, out);
  first.step(Deliver{at_s(1), "orchestrator:1", take_control(5)}, out);
  const std::vector<std::string> disk = disk_of(out);
  Director second(config());
  out.clear();
  second.step(Start{at_s(2), disk}, out);
  EXPECT_EQ(second.accepted(), (FenceValue{kClusterEra, 5}));
  EXPECT_EQ(second.controller(), "orchestrator:1");
  ASSERT_EQ(sends_to(out, "orchestrator:1").size(), 1u) << "hello goes to the persisted controller";
  out.clear();
  second.step(Deliver{at_s(3), "orchestrator:2", take_control(4)}, out);
  EXPECT_TRUE(answer_to(out, "orchestrator:2").rejected());
}

// Every single-bit flip of the checkpoint is caught by its checksum: the Director reports it and
// never starts from a fence or controller that the disk made up.
TEST(Director, EveryBitFlipOfTheCheckpointIsDetected) {
  Director first(config());
  Outputs out;
  first.step(Start{at_s(0), {}}, out);
  first.step(Deliver{at_s(1), "orchestrator:1", take_control(5)}, out);
  const auto persists = omni::testing::all_of_type<Persist>(out);
  ASSERT_FALSE(persists.empty());
  const std::string good = persists.back().record;
  for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
    std::string bad = good;
    bad[bit / 8] = static_cast<char>(bad[bit / 8] ^ (1 << (bit % 8)));
    Director second(config());
    out.clear();
    second.step(Start{at_s(2), {bad}}, out);
    ASSERT_EQ(second.corrupt_checkpoints(), 1u) << "bit " << bit;
    ASSERT_EQ(second.accepted(), FenceValue{}) << "bit " << bit;
    ASSERT_TRUE(second.controller().empty()) << "bit " << bit;
  }
}

TEST(Director, RefusesWorkersBeyondCapacityWithAReason) {
  Director d(config());
  Outputs out;
  d.step(Start{at_s(0), {}}, out);
  v1::Envelope e = claim(kRootEra, 1);
  auto* w = e.mutable_director_command()->mutable_ensure_workers();
  for (int i = 1; i <= 2; ++i) {
    auto* vm = w->add_vms();
    vm->set_name("t-n1-worker-" + std::to_string(i));
    vm->mutable_resources()->set_cpu_millis(2000);
    vm->mutable_resources()->set_memory_bytes(i == 1 ? 3LL << 30 : 16LL << 30);
  }
  out.clear();
  d.step(Deliver{at_s(1), "root", e}, out);
  const v1::DirectorReport r = answer_to(out, "root");
  EXPECT_TRUE(r.rejected());
  EXPECT_EQ(r.reason(), "not enough memory on n1 for worker VM 2: need 16Gi, 12Gi free");
  EXPECT_TRUE(d.desired_vms().empty());
  EXPECT_TRUE(omni::testing::all_of_type<DriverCall>(out).empty()) << "nothing is created";
}

// Worker VMs from the wire: a negative amount passed the capacity comparisons and overflowed
// the free sums (an INT64_MIN one was UB), and zero-sized ones came in any number.
TEST(Director, RefusesWorkersWithUnsoundAmountsOrTooMany) {
  Director d(config());
  Outputs out;
  d.step(Start{at_s(0), {}}, out);
  const auto refused = [&](const std::function<void(v1::EnsureWorkers&)>& fill) {
    v1::Envelope e = claim(kRootEra, 1);
    fill(*e.mutable_director_command()->mutable_ensure_workers());
    out.clear();
    d.step(Deliver{at_s(1), "root", e}, out);
    return answer_to(out, "root");
  };
  const auto negative = refused([](v1::EnsureWorkers& w) {
    auto* vm = w.add_vms();
    vm->set_name("t-n1-worker-1");
    vm->mutable_resources()->set_cpu_millis(1000);
    vm->mutable_resources()->set_memory_bytes(INT64_MIN);
  });
  EXPECT_TRUE(negative.rejected());
  EXPECT_NE(negative.reason().find("no sound resources"), std::string::npos) << negative.reason();
  const auto many = refused([](v1::EnsureWorkers& w) {
    for (int i = 0; i < 65; ++i) {
      auto* vm = w.add_vms();
      vm->set_name("t-n1-worker-" + std::to_string(i));
      vm->mutable_resources()->set_cpu_millis(1);
      vm->mutable_resources()->set_memory_bytes(1);
    }
  });
  EXPECT_TRUE(many.rejected());
  EXPECT_NE(many.reason().find("at most 64"), std::string::npos) << many.reason();
  EXPECT_TRUE(d.desired_vms().empty());
}

// Only the root and the Orchestrators are answered an Inspect (each answer takes one of the
// slots the leader's echo is looked up in); an Agent is heard only from this node's VMs, and
// its generation only so far ahead (2^64-2 wrapped the next one to zero, and an assertion
// stopped the Director).
TEST(Director, StrangersGetNoAnswerAndAgentsAreHeardWithinBounds) {
  Director d(config());
  Outputs out;
  d.step(Start{at_s(0), {}}, out);
  v1::Envelope inspect;
  inspect.mutable_inspect()->set_nonce(1);
  d.step(Deliver{at_s(1), "agent:t-n1-worker-1", inspect}, out);
  EXPECT_TRUE(sends_to(out, "agent:t-n1-worker-1").empty());
  out.clear();
  d.step(Deliver{at_s(1), "root", inspect}, out);
  EXPECT_EQ(sends_to(out, "root").size(), 1u);

  v1::Envelope report;
  report.mutable_agent_report()->set_vm("elsewhere-worker-9");
  report.mutable_agent_report()->set_generation(5);
  auto* forged = report.mutable_agent_report()->add_containers();
  forged->set_name("t-web-1");
  forged->set_running(true);
  out.clear();
  d.step(Deliver{at_s(2), "agent:elsewhere-worker-9", report}, out);
  out.clear();
  d.step(Deliver{at_s(2), "root", inspect}, out);
  EXPECT_EQ(answer_to(out, "root").containers_size(), 0) << "not a VM of this node: not reported";
  report.mutable_agent_report()->clear_containers();

  d.step(Deliver{at_s(2), "root", claim(kRootEra, 1)}, out);
  v1::Envelope workers = claim(kRootEra, 1);
  auto* vm = workers.mutable_director_command()->mutable_ensure_workers()->add_vms();
  vm->set_name("t-n1-worker-1");
  vm->mutable_resources()->set_cpu_millis(2000);
  vm->mutable_resources()->set_memory_bytes(4LL << 30);
  d.step(Deliver{at_s(2), "root", workers}, out);
  report.mutable_agent_report()->set_vm("t-n1-worker-1");
  report.mutable_agent_report()->set_generation(UINT64_MAX - 1);
  out.clear();
  d.step(Deliver{at_s(3), "agent:t-n1-worker-1", report}, out);
  const auto lists = sends_to(out, "agent:t-n1-worker-1");
  ASSERT_EQ(lists.size(), 1u) << "its list again, at this Director's own generation";
  EXPECT_LT(lists[0].envelope.run_containers().generation(), 100u);
  report.mutable_agent_report()->set_generation(lists[0].envelope.run_containers().generation() +
                                                3);
  out.clear();
  d.step(Deliver{at_s(4), "agent:t-n1-worker-1", report}, out);
  ASSERT_EQ(sends_to(out, "agent:t-n1-worker-1").size(), 1u);
  EXPECT_EQ(sends_to(out, "agent:t-n1-worker-1")[0].envelope.run_containers().generation(),
            report.agent_report().generation() + 1)
      << "a little ahead (lease flips before a restart): moved past";
}

// An Agent speaks for its own VM only: what it says runs on another VM is not passed on to the
// leader, where it counted as running wherever a container of that name was placed.
TEST(Director, AnAgentReportsOnlyTheContainersOfItsOwnVm) {
  Director d(config());
  Outputs out;
  d.step(Start{at_s(0), {}}, out);
  d.step(Deliver{at_s(1), "root", claim(kRootEra, 1)}, out);
  v1::Envelope workers = claim(kRootEra, 1);
  for (const std::string name : {"t-n1-worker-1", "t-n1-worker-2"}) {
    auto* vm = workers.mutable_director_command()->mutable_ensure_workers()->add_vms();
    vm->set_name(name);
    vm->mutable_resources()->set_cpu_millis(1000);
    vm->mutable_resources()->set_memory_bytes(1LL << 30);
  }
  d.step(Deliver{at_s(1), "root", workers}, out);
  v1::Envelope report;
  report.mutable_agent_report()->set_vm("t-n1-worker-1");
  for (const std::string vm : {"t-n1-worker-1", "t-n1-worker-2", "t-n2-worker-1"}) {
    auto* c = report.mutable_agent_report()->add_containers();
    c->set_name("t-web-on-" + vm);
    c->set_vm(vm);
    c->set_running(true);
  }
  d.step(Deliver{at_s(2), "agent:t-n1-worker-1", report}, out);
  v1::Envelope inspect;
  inspect.mutable_inspect()->set_nonce(1);
  out.clear();
  d.step(Deliver{at_s(2), "root", inspect}, out);
  const auto& answer = answer_to(out, "root");
  ASSERT_EQ(answer.containers_size(), 1);
  EXPECT_EQ(answer.containers(0).name(), "t-web-on-t-n1-worker-1");
}

// The network reorders and duplicates: a late copy of an older command from the same controller
// restored the replicas a newer one had replaced, and the leader (whose newer command was
// answered) had no reason to send it again. A restart keeps where the commands were.
TEST(Director, ALateCopyOfAnOlderCommandDoesNotUndoANewerOne) {
  const auto replicas_command = [](std::uint64_t seq, const std::string& container) {
    v1::Envelope e;
    e.set_seq(seq);
    auto* c = e.mutable_director_command();
    c->mutable_fence()->set_era(kClusterEra);
    c->mutable_fence()->set_term(5);
    auto* r = c->mutable_ensure_replicas()->add_replicas();
    r->set_vm("t-n1-worker-1");
    r->mutable_container()->set_name(container);
    r->mutable_container()->set_replica(2);
    return e;
  };
  Director d(config());
  Outputs all;  // what reaches the disk, for the restart below
  d.step(Start{at_s(0), {}}, all);
  d.step(Deliver{at_s(1), "orchestrator:1", take_control(5)}, all);
  d.step(Deliver{at_s(2), "orchestrator:1", replicas_command(20, "new")}, all);
  const std::uint64_t executed = d.last_executed().count;
  Outputs out;
  d.step(Deliver{at_s(3), "orchestrator:1", replicas_command(12, "old")}, out);
  EXPECT_EQ(d.last_executed().count, executed) << "not executed";
  EXPECT_TRUE(out.empty()) << "nor answered: its seq is not waited on";
  d.step(Deliver{at_s(3), "orchestrator:1", replicas_command(20, "new")}, out);
  EXPECT_EQ(d.last_executed().count, executed + 1) << "the same command again is harmless";
  // A leader sends its workers and its replicas back to back; swapped, both still count.
  v1::Envelope workers = replicas_command(19, "unused");
  workers.mutable_director_command()->clear_ensure_replicas();
  auto* vm = workers.mutable_director_command()->mutable_ensure_workers()->add_vms();
  vm->set_name("t-n1-worker-1");
  vm->mutable_resources()->set_cpu_millis(2000);
  vm->mutable_resources()->set_memory_bytes(4LL << 30);
  d.step(Deliver{at_s(3), "orchestrator:1", workers}, all);
  EXPECT_EQ(d.last_executed().count, executed + 2) << "an older seq of another kind";
  ASSERT_EQ(d.desired_vms().size(), 1u);

  Director restarted(config());
  out.clear();
  restarted.step(Start{at_s(4), disk_of(all)}, out);
  ASSERT_EQ(restarted.accepted(), (FenceValue{kClusterEra, 5}));
  out.clear();
  restarted.step(Deliver{at_s(5), "orchestrator:1", replicas_command(12, "old")}, out);
  EXPECT_EQ(restarted.last_executed().count, 0u) << "a restart keeps where the commands were";
  // A new controller counts its own seqs from wherever it is.
  restarted.step(Deliver{at_s(6), "orchestrator:2", take_control(6)}, out);
  v1::Envelope next = replicas_command(3, "newer");
  next.mutable_director_command()->mutable_fence()->set_term(6);
  restarted.step(Deliver{at_s(7), "orchestrator:2", next}, out);
  EXPECT_EQ(restarted.last_executed().fence, (FenceValue{kClusterEra, 6}));
  EXPECT_FALSE(restarted.last_executed().claim_only);
}

TEST(Director, CreatesDesiredVmsOnlyAfterListingWhatExists) {
  Director d(config());
  Outputs out;
  d.step(Start{at_s(0), {}}, out);
  const auto calls = omni::testing::all_of_type<DriverCall>(out);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(std::get<VmOp>(calls[0].op).kind, VmOpKind::list);
  v1::Envelope e = claim(kRootEra, 1);
  auto* vm = e.mutable_director_command()->mutable_ensure_workers()->add_vms();
  vm->set_name("t-n1-worker-1");
  vm->mutable_resources()->set_cpu_millis(7000);
  vm->mutable_resources()->set_memory_bytes(15LL << 30);
  out.clear();
  d.step(Deliver{at_s(1), "root", e}, out);
  EXPECT_TRUE(omni::testing::all_of_type<DriverCall>(out).empty()) << "no create before the list";
  out.clear();
  DriverResult listed;
  listed.names = {"t-n1-director"};
  listed.running = {"t-n1-director"};
  d.step(DriverDone{at_s(2), calls[0].op_id, listed}, out);
  std::vector<DriverCall> creates;
  for (const auto& c : omni::testing::all_of_type<DriverCall>(out))
    if (std::get<VmOp>(c.op).kind == VmOpKind::create) creates.push_back(c);
  ASSERT_EQ(creates.size(), 1u);
  const VmOp& op = std::get<VmOp>(creates[0].op);
  EXPECT_EQ(op.kind, VmOpKind::create);
  EXPECT_EQ(op.name, "t-n1-worker-1");
  EXPECT_EQ(op.memory_bytes, 15LL << 30);
}

TEST(Director, TestOnlyStaleFenceKnobReallyAcceptsStaleTerms) {
  DirectorConfig c = config();
  c.testing_accept_stale_fence = true;
  Director d(c);
  Outputs out;
  d.step(Start{at_s(0), {}}, out);
  d.step(Deliver{at_s(1), "orchestrator:1", take_control(5)}, out);
  out.clear();
  d.step(Deliver{at_s(2), "orchestrator:2", take_control(3)}, out);
  EXPECT_FALSE(answer_to(out, "orchestrator:2").rejected());
  EXPECT_EQ(d.last_executed().fence, (FenceValue{kClusterEra, 3}));
}

// The app lease. A Director under a cluster leader runs app containers only for app_lease after
// a report the leader echoed back; then it stops them (Orchestrator replicas keep running) and
// starts them again when a fresh echo arrives. Only its controller's echo of a report it sent
// counts.
std::vector<std::string> containers_sent(const Outputs& out, const Address& agent) {
  std::vector<std::string> names;
  for (const auto& s : sends_to(out, agent))
    if (s.envelope.has_run_containers()) {
      names.clear();
      for (const auto& c : s.envelope.run_containers().containers()) names.push_back(c.name());
    }
  return names;
}

// The app lease the last set sent to `agent` grants, in ms; -1 when no set went to it.
std::int64_t lease_sent_ms(const Outputs& out, const Address& agent) {
  std::int64_t ms = -1;
  for (const auto& s : sends_to(out, agent))
    if (s.envelope.has_run_containers())
      ms = static_cast<std::int64_t>(s.envelope.run_containers().app_lease_ms());
  return ms;
}

std::uint64_t newest_report_seq(const Outputs& out, const Address& to) {
  std::uint64_t seq = 0;
  for (const auto& s : sends_to(out, to))
    if (s.envelope.has_director_report()) seq = s.envelope.director_report().report_seq();
  return seq;
}

v1::Envelope controlled(std::uint64_t term, v1::DirectorCommand body) {
  v1::Envelope e;
  e.set_seq(11);
  *e.mutable_director_command() = std::move(body);
  e.mutable_director_command()->mutable_fence()->set_era(kClusterEra);
  e.mutable_director_command()->mutable_fence()->set_term(term);
  return e;
}

v1::Envelope echo(std::uint64_t report_seq) {
  v1::Envelope e;
  e.mutable_inspect()->set_lease_report_seq(report_seq);
  return e;
}

// EnsureWorkers of one worker VM, t-n1-worker-1.
v1::DirectorCommand one_worker() {
  v1::DirectorCommand workers;
  auto* vm = workers.mutable_ensure_workers()->add_vms();
  vm->set_name("t-n1-worker-1");
  vm->mutable_resources()->set_cpu_millis(2000);
  vm->mutable_resources()->set_memory_bytes(4LL << 30);
  return workers;
}

// The worker's Agent says hello at `at`: the Director sends it its set.
void worker_agent_says_hello(Director& d, Time at, Outputs& out) {
  v1::Envelope hello;
  hello.mutable_hello()->set_component("agent:t-n1-worker-1");
  d.step(Deliver{at, "agent:t-n1-worker-1", hello}, out);
}

// Started, taken control of by orchestrator:1 at term 5, and told to run t-n1-worker-1.
void control_with_one_worker(Director& d, Outputs& out) {
  d.step(Start{at_s(0), {}}, out);
  d.step(Deliver{at_s(1), "orchestrator:1", take_control(5)}, out);
  d.step(Deliver{at_s(1), "orchestrator:1", controlled(5, one_worker())}, out);
}

TEST(Director, AppsRunOnlyWhileTheLeaderEchoesItsReports) {
  const Address leader = "orchestrator:1";
  const Address agent = "agent:t-n1-worker-1";
  Director d(config());
  Outputs out;
  control_with_one_worker(d, out);
  v1::DirectorCommand replicas;
  for (const auto& [name, replica] :
       std::vector<std::pair<std::string, int>>{{"t-orchestrator-2", 2}, {"t-web-1", 0}}) {
    auto* r = replicas.mutable_ensure_replicas()->add_replicas();
    r->set_vm("t-n1-worker-1");
    r->mutable_container()->set_name(name);
    r->mutable_container()->set_replica(replica);
  }
  d.step(Deliver{at_s(1), leader, controlled(5, replicas)}, out);
  out.clear();
  worker_agent_says_hello(d, at_s(2), out);
  EXPECT_EQ(containers_sent(out, agent), (std::vector<std::string>{"t-orchestrator-2", "t-web-1"}));
  EXPECT_EQ(lease_sent_ms(out, agent), 0) << "no echo yet: the Agent is given no time for apps";

  out.clear();
  d.step(Tick{at_s(12)}, out);  // ten seconds since the start and no echo: the lease ran out
  EXPECT_TRUE(d.apps_fenced());
  EXPECT_EQ(containers_sent(out, agent), (std::vector<std::string>{"t-orchestrator-2"}));
  const std::uint64_t fresh = newest_report_seq(out, leader);
  ASSERT_NE(fresh, 0u) << "the periodic report carries a seq to echo";

  out.clear();
  d.step(Deliver{at_s(13), "orchestrator:2", echo(fresh)}, out);
  EXPECT_TRUE(d.apps_fenced()) << "only the controller renews";
  d.step(Deliver{at_s(13), leader, echo(fresh + 1000)}, out);
  EXPECT_TRUE(d.apps_fenced()) << "an echo of a report never sent renews nothing";
  d.step(Deliver{at_s(13), leader, echo(fresh)}, out);
  EXPECT_FALSE(d.apps_fenced());
  EXPECT_EQ(containers_sent(out, agent), (std::vector<std::string>{"t-orchestrator-2", "t-web-1"}));
  EXPECT_EQ(lease_sent_ms(out, agent), 9000) << "what is left of ten seconds from the report";

  // Each later echo passes the renewed lease on, in the same set: without it the Agent would stop
  // its apps when the first grant ran out.
  out.clear();
  d.step(Tick{at_s(17)}, out);
  const std::uint64_t later = newest_report_seq(out, leader);
  ASSERT_GT(later, fresh);
  out.clear();
  d.step(Deliver{at_s(19), leader, echo(later)}, out);
  EXPECT_EQ(containers_sent(out, agent), (std::vector<std::string>{"t-orchestrator-2", "t-web-1"}));
  EXPECT_EQ(lease_sent_ms(out, agent), 8000);
  d.step(Deliver{at_s(19), leader, echo(later)}, out);
  out.clear();
  d.step(Deliver{at_s(19), leader, echo(later)}, out);
  EXPECT_EQ(lease_sent_ms(out, agent), -1) << "an echo that renews nothing sends nothing";
}

// A restarted Director numbers its reports afresh from its start time, so the leader's echo of
// a report the previous incarnation sent renews nothing.
TEST(Director, AnEchoFromBeforeARestartDoesNotRenewTheLease) {
  Director first(config());
  Outputs out;
  first.step(Start{at_s(0), {}}, out);
  first.step(Deliver{at_s(1), "orchestrator:1", take_control(5)}, out);
  const std::uint64_t old_seq = newest_report_seq(out, "orchestrator:1");
  const std::vector<std::string> disk = disk_of(out);
  Director second(config());
  out.clear();
  second.step(Start{at_s(3), disk}, out);
  second.step(Deliver{at_s(4), "orchestrator:1", take_control(5)}, out);
  const std::uint64_t new_seq = newest_report_seq(out, "orchestrator:1");
  EXPECT_GT(new_seq, old_seq);
  second.step(Deliver{at_s(20), "orchestrator:1", echo(old_seq)}, out);
  second.step(Tick{at_s(20)}, out);
  EXPECT_TRUE(second.apps_fenced());
}

// Controlled as control_with_one_worker, with one app replica, t-web-1, in the worker.
void control_with_an_app(Director& d, Outputs& out) {
  control_with_one_worker(d, out);
  v1::DirectorCommand replicas;
  auto* r = replicas.mutable_ensure_replicas()->add_replicas();
  r->set_vm("t-n1-worker-1");
  r->mutable_container()->set_name("t-web-1");
  d.step(Deliver{at_s(1), "orchestrator:1", controlled(5, replicas)}, out);
}

// Started at `at` from `disk`, its hypervisor listing the worker VM as running.
void restart_with_the_worker_running(Director& d, const std::vector<std::string>& disk, Time at,
                                     Outputs& out) {
  d.step(Start{at, disk}, out);
  DriverResult listed;
  listed.names = listed.running = {"t-n1-worker-1"};
  for (const auto& call : omni::testing::all_of_type<DriverCall>(out))
    d.step(DriverDone{at, call.op_id, listed}, out);
}

// A restarted Director may not know that its lease ran out while it was down and the leader moved
// its apps: it gives its Agents no time to run them until an echo of this incarnation's report.
// It granted itself a whole lease from its start, and an Agent cut off with it ran the moved
// apps a second time.
TEST(Director, ARestartedDirectorGrantsNoAppTimeBeforeAnEcho) {
  const Address leader = "orchestrator:1";
  const Address agent = "agent:t-n1-worker-1";
  Director first(config());
  Outputs out;
  control_with_an_app(first, out);
  const std::vector<std::string> disk = disk_of(out);

  Director second(config());
  out.clear();
  restart_with_the_worker_running(second, disk, at_s(100), out);
  out.clear();
  worker_agent_says_hello(second, at_s(101), out);
  EXPECT_FALSE(second.apps_fenced()) << "a restart does not stop the apps at once";
  EXPECT_EQ(containers_sent(out, agent), std::vector<std::string>{"t-web-1"});
  EXPECT_EQ(lease_sent_ms(out, agent), 0);
  out.clear();
  second.step(Tick{at_s(105)}, out);
  const std::uint64_t seq = newest_report_seq(out, leader);
  ASSERT_NE(seq, 0u);
  EXPECT_FALSE(answer_to(out, leader).lease_granted()) << "the leader must know it holds none";
  out.clear();
  second.step(Deliver{at_s(106), leader, echo(seq)}, out);
  EXPECT_EQ(lease_sent_ms(out, agent), 9000);
  out.clear();
  second.step(Tick{at_s(107)}, out);
  EXPECT_TRUE(answer_to(out, leader).lease_granted());
}

// A set the Agent refused (it does not fit) goes again at the next reconcile, not in answer to
// the refusal: the two passed it back and forth as fast as the network carried them (a helper's
// trace counted about six hundred sets to each Director's one worker in the second after an app
// grew). A report of an older set that was not refused is answered at once.
TEST(Director, ASetTheAgentRefusedIsNotSentBackAtOnce) {
  const Address agent = "agent:t-n1-worker-1";
  Director d(config());
  Outputs out;
  control_with_one_worker(d, out);
  out.clear();
  worker_agent_says_hello(d, at_s(2), out);
  const auto sets = sends_to(out, agent);
  ASSERT_FALSE(sets.empty());
  const std::uint64_t generation = sets.back().envelope.run_containers().generation();
  v1::Envelope refused;
  refused.mutable_agent_report()->set_vm("t-n1-worker-1");
  refused.mutable_agent_report()->set_generation(generation - 1);
  refused.mutable_agent_report()->set_rejected(true);
  refused.mutable_agent_report()->set_reason("not enough memory in t-n1-worker-1");
  out.clear();
  d.step(Deliver{at_s(2), agent, refused}, out);
  EXPECT_TRUE(sends_to(out, agent).empty()) << "not sent back at once";
  v1::Envelope behind = refused;
  behind.mutable_agent_report()->set_rejected(false);
  d.step(Deliver{at_s(2), agent, behind}, out);
  EXPECT_EQ(sends_to(out, agent).size(), 1u) << "an Agent merely behind gets the set at once";
}

// The newest set number a Director sent to `agent`; 0 when it sent none.
std::uint64_t generation_sent(const Outputs& out, const Address& agent) {
  std::uint64_t generation = 0;
  for (const auto& s : sends_to(out, agent))
    if (s.envelope.has_run_containers()) generation = s.envelope.run_containers().generation();
  return generation;
}

// A set number is never used by two incarnations: every number a set carries is on disk before
// the set goes out, and a restarted Director starts past it. The lease's flips were not written,
// so a restarted Director sent other sets under numbers its Agents had already taken, and an
// Agent takes a set of its own number, a late copy from before the restart too, for the one it has.
TEST(Director, ASetNumberIsNeverUsedByTwoIncarnations) {
  const Address agent = "agent:t-n1-worker-1";
  Director first(config());
  Outputs out;
  control_with_an_app(first, out);
  worker_agent_says_hello(first, at_s(2), out);
  first.step(Tick{at_s(12)}, out);  // no echo: the lease ran out, and the set changed
  ASSERT_TRUE(first.apps_fenced());
  const std::uint64_t sent = generation_sent(out, agent);
  ASSERT_GT(sent, 0u);

  Director second(config());
  Outputs after;
  restart_with_the_worker_running(second, disk_of(out), at_s(20), after);
  worker_agent_says_hello(second, at_s(21), after);
  EXPECT_GT(generation_sent(after, agent), sent);
}

// The checkpoint is written twice: a damaged copy, either one, is skipped and the other keeps the
// fence. With one copy, a damaged checkpoint sent the Director back to root epoch 0 (the
// simulator's fencing checker caught it going back), with no desired VMs.
TEST(Director, ADamagedCopyOfTheCheckpointLeavesTheOther) {
  Director first(config());
  Outputs out;
  first.step(Start{at_s(0), {}}, out);
  first.step(Deliver{at_s(1), "orchestrator:1", take_control(5)}, out);
  const std::vector<std::string> disk = disk_of(out);
  ASSERT_EQ(disk.size(), 2u);
  EXPECT_EQ(disk[0], disk[1]);
  for (std::size_t damaged = 0; damaged < 2; ++damaged) {
    std::vector<std::string> bad = disk;
    bad[damaged][bad[damaged].size() / 2] ^= 0x10;
    Director second(config());
    out.clear();
    second.step(Start{at_s(2), bad}, out);
    EXPECT_EQ(second.corrupt_checkpoints(), 1u);
    EXPECT_EQ(second.accepted(), (FenceValue{kClusterEra, 5})) << "copy " << damaged;
    EXPECT_EQ(second.controller(), "orchestrator:1");
  }
}

// A Director that knows nothing of what is desired (no good checkpoint, no controller yet) leaves
// the VMs it finds: it took every worker VM of its node for undesired and destroyed them.
TEST(Director, DestroysNothingBeforeItKnowsWhatIsDesired) {
  Director d(config());
  Outputs out;
  d.step(Start{at_s(0), {"damaged"}}, out);
  ASSERT_EQ(d.corrupt_checkpoints(), 1u);
  DriverResult listed;
  listed.names = listed.running = {"t-n1-worker-1", "t-n1-worker-2"};
  for (const auto& call : omni::testing::all_of_type<DriverCall>(out))
    d.step(DriverDone{at_s(1), call.op_id, listed}, out);
  out.clear();
  d.step(Tick{at_s(30)}, out);
  for (const auto& call : omni::testing::all_of_type<DriverCall>(out))
    d.step(DriverDone{at_s(30), call.op_id, listed}, out);
  for (const auto& call : omni::testing::all_of_type<DriverCall>(out))
    EXPECT_NE(std::get<VmOp>(call.op).kind, VmOpKind::destroy) << std::get<VmOp>(call.op).name;
  // Once a controller says which workers it wants, the others go.
  const v1::DirectorCommand workers = one_worker();
  out.clear();
  d.step(Deliver{at_s(31), "orchestrator:1", take_control(5)}, out);
  d.step(Deliver{at_s(31), "orchestrator:1", controlled(5, workers)}, out);
  std::vector<std::string> destroyed;
  for (const auto& call : omni::testing::all_of_type<DriverCall>(out))
    if (std::get<VmOp>(call.op).kind == VmOpKind::destroy)
      destroyed.push_back(std::get<VmOp>(call.op).name);
  EXPECT_EQ(destroyed, std::vector<std::string>{"t-n1-worker-2"});
}

}  // namespace
}  // namespace omni::director
