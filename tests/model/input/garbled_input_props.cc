// Untrusted input never reaches an assertion: every component, fed well-formed messages whose
// bytes were then garbled, from members, strangers and itself, in any order, neither throws an
// AssertionFailure nor breaks its own invariants (a Director's fence and an Orchestrator's term
// never go down). Assertions are for the model's own invariants; what arrives is validated.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/agent/agent.h"
#include "model/config/parse.h"
#include "model/core/assert.h"
#include "model/director/director.h"
#include "model/director/fence.h"
#include "model/orchestrator/cluster_spec.h"
#include "model/orchestrator/orchestrator.h"
#include "model/root/root.h"

namespace omni {
namespace {

constexpr int kInputsMax = 60;
constexpr int kEditsMax = 6;

const char* const kClusterYaml =
    "cluster: {name: t, orchestrators: 3}\nnodes:\n"
    "  - {name: n1, resources: {cpu: 8, memory: 32Gi}}\n"
    "  - {name: n2, resources: {cpu: 8, memory: 32Gi}}\n"
    "  - {name: n3, resources: {cpu: 8, memory: 32Gi}}\n";

const std::vector<Address> kSenders{"root",
                                    "root-b",
                                    "orchestrator:1",
                                    "orchestrator:2",
                                    "orchestrator:3",
                                    "orchestrator:9",
                                    "director:n1",
                                    "agent:t-n1-worker-1",
                                    "admin",
                                    "client:1",
                                    ""};

v1::Fence fence(std::uint32_t era, std::uint64_t term) {
  v1::Fence f;
  f.set_era(era);
  f.set_term(term);
  return f;
}

v1::ContainerSpec container(const std::string& name, std::uint32_t replica) {
  v1::ContainerSpec c;
  c.set_name(name);
  c.set_image("omni/orchestrator");
  c.add_args("orchestrator");
  c.mutable_resources()->set_cpu_millis(500);
  c.mutable_resources()->set_memory_bytes(512LL << 20);
  c.set_replica(replica);
  return c;
}

v1::Envelope raft_message(v1::RaftMessageType type) {
  v1::Envelope e;
  auto* m = e.mutable_raft();
  m->set_type(type);
  m->set_term(3);
  m->set_log_term(2);
  m->set_index(4);
  m->set_commit(3);
  m->set_reject_hint(2);
  m->set_read_seq(1);
  for (std::uint64_t i = 5; i <= 6; ++i) {
    auto* entry = m->add_entries();
    entry->set_term(3);
    entry->set_index(i);
    entry->set_type(v1::RAFT_ENTRY_TYPE_NORMAL);
    entry->set_data("x");
  }
  m->mutable_snapshot()->set_index(9);
  m->mutable_snapshot()->set_term(2);
  m->mutable_snapshot()->mutable_conf()->add_voters("orchestrator:1");
  m->mutable_client_request()->set_request_id(1);
  m->mutable_client_request()->set_type(v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE);
  m->mutable_client_request()->set_data("x");
  return e;
}

// One well-formed example of every message the components exchange.
std::vector<v1::Envelope> templates() {
  std::vector<v1::Envelope> all;
  v1::Envelope e;
  e.set_seq(7);
  e.mutable_hello()->set_component("director:n1");
  e.mutable_hello()->set_incarnation(2);
  all.push_back(e);
  for (std::uint32_t era : {kRootEra, kClusterEra}) {
    e.Clear();
    e.set_seq(8);
    auto* c = e.mutable_director_command();
    *c->mutable_fence() = fence(era, 2);
    c->set_controller(era == kRootEra ? "root" : "orchestrator:1");
    c->mutable_claim();
    all.push_back(e);
    auto* vm = c->mutable_ensure_workers()->add_vms();
    vm->set_name("t-n1-worker-1");
    vm->mutable_resources()->set_cpu_millis(4000);
    vm->mutable_resources()->set_memory_bytes(8LL << 30);
    all.push_back(e);
    auto* replica = c->mutable_ensure_replicas()->add_replicas();
    replica->set_vm("t-n1-worker-1");
    *replica->mutable_container() = container("t-orchestrator-1", 1);
    all.push_back(e);
  }
  e.Clear();
  *e.mutable_take_control()->mutable_fence() = fence(kClusterEra, 3);
  e.mutable_take_control()->set_controller("orchestrator:1");
  all.push_back(e);
  e.Clear();
  auto* report = e.mutable_director_report();
  report->set_node("n1");
  *report->mutable_accepted() = fence(kClusterEra, 3);
  report->set_controller("orchestrator:1");
  report->add_vms()->set_name("t-n1-worker-1");
  report->add_containers()->set_name("t-orchestrator-1");
  all.push_back(e);
  e.Clear();
  e.mutable_run_containers()->set_generation(4);
  *e.mutable_run_containers()->add_containers() = container("t-orchestrator-1", 1);
  *e.mutable_run_containers()->add_containers() = container("web-1", 0);
  all.push_back(e);
  e.Clear();
  e.mutable_agent_report()->set_vm("t-n1-worker-1");
  e.mutable_agent_report()->set_generation(4);
  e.mutable_agent_report()->add_containers()->set_name("t-orchestrator-1");
  all.push_back(e);
  e.Clear();
  e.mutable_hand_over()->set_epoch(1);
  *e.mutable_hand_over()->mutable_cluster() =
      orchestrator::to_cluster_spec(*config::parse_cluster_config(kClusterYaml, "garbled").config);
  e.mutable_hand_over()->add_directors("director:n1");
  all.push_back(e);
  e.Clear();
  e.mutable_hand_over_ack()->set_accepted(true);
  e.mutable_hand_over_ack()->set_term(3);
  all.push_back(e);
  e.Clear();
  e.mutable_status_request()->set_nonce(5);
  all.push_back(e);
  e.Clear();
  e.mutable_status_reply()->set_nonce(5);
  e.mutable_status_reply()->set_is_leader(true);
  e.mutable_status_reply()->set_quorum_healthy(true);
  e.mutable_status_reply()->add_controlled_directors("director:n1");
  all.push_back(e);
  e.Clear();
  e.mutable_inspect()->set_nonce(3);
  all.push_back(e);
  e.Clear();
  e.mutable_store_request()->set_id(1);
  e.mutable_store_request()->mutable_put()->set_key("/apps/web");
  e.mutable_store_request()->mutable_put()->set_value("v");
  e.mutable_store_request()->mutable_put()->set_conditional(true);
  all.push_back(e);
  e.mutable_store_request()->mutable_get()->set_key("/apps/web");
  all.push_back(e);
  e.mutable_store_request()->mutable_list()->set_prefix("/apps/");
  all.push_back(e);
  e.mutable_store_request()->mutable_delete_()->set_key("/apps/web");
  all.push_back(e);
  e.Clear();
  e.mutable_store_reply()->set_status(v1::STORE_STATUS_OK);
  e.mutable_store_reply()->add_objects()->set_key("/apps/web");
  all.push_back(e);
  for (int type = v1::RAFT_MESSAGE_TYPE_PRE_VOTE; type <= v1::RAFT_MESSAGE_TYPE_CLIENT_REPLY;
       ++type) {
    all.push_back(raft_message(static_cast<v1::RaftMessageType>(type)));
  }
  return all;
}

// A template whose bytes were flipped, inserted or cut, as long as they still parse; otherwise
// the template with its sequence number changed (what a parser refuses never reaches a step).
v1::Envelope gen_envelope() {
  static const std::vector<v1::Envelope> all = templates();
  v1::Envelope e = all[*rc::gen::inRange<std::size_t>(0, all.size())];
  std::string bytes = e.SerializeAsString();
  const int edits = *rc::gen::inRange(0, kEditsMax + 1);
  for (int i = 0; i < edits && !bytes.empty(); ++i) {
    const auto at = *rc::gen::inRange<std::size_t>(0, bytes.size());
    const char byte = static_cast<char>(*rc::gen::inRange(0, 256));
    switch (*rc::gen::inRange(0, 3)) {
      case 0:
        bytes[at] = byte;
        break;
      case 1:
        bytes.insert(bytes.begin() + static_cast<long>(at), byte);
        break;
      default:
        bytes.erase(at, 1);
        break;
    }
  }
  v1::Envelope garbled;
  if (garbled.ParseFromString(bytes)) return garbled;
  e.set_seq(*rc::gen::arbitrary<std::uint64_t>());
  return e;
}

// Delivers garbled messages from random senders, with ticks between them, and checks after
// every step that no assertion fired and `invariant` holds.
void feed_garbage(Component& component, const std::function<void()>& invariant) {
  Time now{};
  Outputs out;
  component.step(Start{now, {}}, out);
  const int inputs = *rc::gen::inRange(1, kInputsMax + 1);
  for (int i = 0; i < inputs; ++i) {
    now += std::chrono::milliseconds(*rc::gen::inRange(0, 1500));
    out.clear();
    const std::string sender = *rc::gen::elementOf(kSenders);
    const v1::Envelope envelope = gen_envelope();
    try {
      if (*rc::gen::inRange(0, 4) == 0) {
        component.step(Tick{now}, out);
      } else {
        component.step(Deliver{now, sender, envelope}, out);
      }
    } catch (const AssertionFailure& failure) {
      RC_FAIL(std::string(failure.what()) + "\n  from " + sender + ": " +
              envelope.ShortDebugString());
    }
    invariant();
  }
}

RC_GTEST_PROP(GarbledInputProps, DirectorNeverAssertsAndItsFenceNeverGoesDown, ()) {
  director::DirectorConfig config;
  config.node = "n1";
  config.own_vm = "t-n1-director";
  config.capacity = {8000, 32LL << 30};
  config.director_vm = {1000, 1LL << 30};
  director::Director d(config);
  FenceValue held = d.accepted();
  feed_garbage(d, [&] {
    RC_ASSERT(!(d.accepted() < held));
    held = d.accepted();
  });
}

RC_GTEST_PROP(GarbledInputProps, AgentNeverAssertsAndItsGenerationNeverGoesDown, ()) {
  agent::AgentConfig config;
  config.vm = "t-n1-worker-1";
  config.director = "director:n1";
  config.capacity = {4000, 8LL << 30};
  agent::Agent a(config);
  std::uint64_t generation = a.generation();
  feed_garbage(a, [&] {
    RC_ASSERT(a.generation() >= generation);
    generation = a.generation();
  });
}

RC_GTEST_PROP(GarbledInputProps, RootNeverAssertsAndItsPhaseNeverGoesBack, ()) {
  root::RootConfig config;
  config.cluster = *config::parse_cluster_config(kClusterYaml, "garbled").config;
  root::Root r(config);
  root::Phase phase = r.phase();
  feed_garbage(r, [&] {
    RC_ASSERT(r.phase() >= phase);
    phase = r.phase();
  });
}

RC_GTEST_PROP(GarbledInputProps, OrchestratorNeverAssertsAndItsTermNeverGoesDown, ()) {
  const auto config = orchestrator::Orchestrator::from_args(
      {"--replica=1", "--members=orchestrator:1,orchestrator:2,orchestrator:3"});
  RC_ASSERT(config.has_value());
  orchestrator::Orchestrator o(*config, Rng{*rc::gen::arbitrary<std::uint64_t>()});
  std::uint64_t term = o.term();
  feed_garbage(o, [&] {
    RC_ASSERT(o.term() >= term);
    term = o.term();
  });
}

}  // namespace
}  // namespace omni
