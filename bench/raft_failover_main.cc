// Raft fail-over in the simulator (compare: Raft paper, figure 16), and the simulator's speed
// on a Raft workload.
//
// Fail-over: 5 servers, election timeout 150..300 ms, heartbeat 50 ms, pre-vote and
// check-quorum on, LAN latency uniform 0.1..0.5 ms, no loss. Per trial: let a leader settle
// under steady proposals, wait a random fraction of a heartbeat interval, crash the leader, and
// measure simulated time until (a) another server is leader and (b) that leader has committed
// an entry of its term (it can serve writes). Prints min, median, p99, max over the trials.
//
// Speed: 5 servers under steady proposals (one every 1 ms on average), no checkers; prints
// events per wall second and simulated seconds per wall second.
//
//   bench-raft-failover [trials=1000] [speed_simulated_seconds=60] [seed=1]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "model/core/assert.h"
#include "model/raft/raft_node.h"
#include "sim/simulation.h"

namespace {

using omni::Duration;
using omni::Time;
using omni::raft::NodeId;
using omni::raft::Role;

constexpr std::size_t kServers = 5;

class CountingMachine : public omni::raft::StateMachine {
 public:
  void apply(const omni::v1::RaftEntry& entry) override { applied_ += entry.data().size() > 0; }
  std::string snapshot() const override { return std::to_string(applied_); }
  void restore(const std::string& snapshot) override { applied_ = std::stoull(snapshot); }

 private:
  std::uint64_t applied_ = 0;
};

class Replica : public omni::Component {
 public:
  Replica(NodeId id, std::vector<NodeId> voters, omni::Rng rng)
      : node_(std::move(id), std::move(voters), omni::raft::RaftConfig{}, rng, &machine_) {}
  void step(const omni::Input& input, omni::Outputs& out) override { node_.step(input, out); }
  const omni::raft::Raft& raft() const { return node_.raft(); }

 private:
  CountingMachine machine_;
  omni::raft::RaftNode node_;
};

// GCC 12 at -O3 inlines the Outputs vector's reallocation into push_back and reports the
// variant's other alternatives as "maybe uninitialized" while they are moved (a known false
// positive inside std::variant; see Raft::emit_wake).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
// Proposes to a random replica every ~period (no redirects: followers answer NOT_LEADER).
class Proposer : public omni::Component {
 public:
  Proposer(omni::Rng rng, std::vector<NodeId> replicas, Duration period)
      : rng_(rng), replicas_(std::move(replicas)), period_(period) {}
  void step(const omni::Input& input, omni::Outputs& out) override {
    if (std::holds_alternative<omni::Deliver>(input)) {
      const auto& reply = std::get<omni::Deliver>(input).envelope.raft().client_reply();
      if (reply.status() == omni::v1::RAFT_CLIENT_STATUS_NOT_LEADER) leader_ = reply.leader();
      return;
    }
    if (std::holds_alternative<omni::Tick>(input)) {
      omni::v1::Envelope envelope;
      auto* m = envelope.mutable_raft();
      m->set_type(omni::v1::RAFT_MESSAGE_TYPE_CLIENT_REQUEST);
      m->mutable_client_request()->set_request_id(++sent_);
      m->mutable_client_request()->set_type(omni::v1::RAFT_CLIENT_REQUEST_TYPE_PROPOSE);
      // Not "p" + std::to_string(...): GCC 12 at -O3 reports that as a -Wrestrict overlap.
      m->mutable_client_request()->set_data(std::to_string(sent_).insert(0, 1, 'p'));
      const NodeId to = leader_.empty() ? replicas_[rng_.below(replicas_.size())] : leader_;
      leader_.clear();  // re-learnt from the next NOT_LEADER; an OK keeps nothing
      out.push_back(omni::Send{to, std::move(envelope)});
    }
    out.push_back(omni::WakeAt{omni::now_of(input) + rng_.between(period_ / 2, period_ * 3 / 2)});
  }

 private:
  omni::Rng rng_;
  std::vector<NodeId> replicas_;
  Duration period_;
  NodeId leader_;
  std::uint64_t sent_ = 0;
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

std::vector<NodeId> voters() {
  std::vector<NodeId> ids;
  for (std::size_t i = 1; i <= kServers; ++i) ids.push_back(std::to_string(i).insert(0, 1, 'r'));
  return ids;
}

void add_cluster(omni::sim::Simulation& sim, Duration propose_period) {
  const std::vector<NodeId> ids = voters();
  for (const NodeId& id : ids) {
    sim.add_process(id,
                    [id, ids](omni::Rng rng) { return std::make_unique<Replica>(id, ids, rng); });
  }
  sim.add_process("client", [ids, propose_period](omni::Rng rng) {
    return std::make_unique<Proposer>(rng, ids, propose_period);
  });
}

const Replica* replica(const omni::sim::Simulation& sim, const NodeId& id) {
  return dynamic_cast<const Replica*>(sim.component(id));
}

// The leader of the highest term among up replicas, or "".
NodeId leader_of(const omni::sim::Simulation& sim) {
  NodeId best;
  omni::raft::Term best_term = 0;
  for (const NodeId& id : voters()) {
    const Replica* r = replica(sim, id);
    if (r != nullptr && r->raft().role() == Role::leader && r->raft().term() > best_term) {
      best = id;
      best_term = r->raft().term();
    }
  }
  return best;
}

bool committed_in_term(const Replica& r) {
  const auto& raft = r.raft();
  return raft.log().term_at(raft.commit_index()) == raft.term();
}

struct Trial {
  Duration elected;
  Duration committed;
};

omni::sim::NetworkConfig lan() {
  return {.latency_min = std::chrono::microseconds(100),
          .latency_max = std::chrono::microseconds(500)};
}

Trial failover_trial(std::uint64_t seed) {
  omni::sim::Simulation sim(omni::sim::SimConfig{.seed = seed, .network = lan()});
  add_cluster(sim, std::chrono::milliseconds(10));
  // Settle: a leader that has committed in its term, then a random point in a heartbeat.
  sim.run_for(std::chrono::seconds(1));
  for (int i = 0;
       i < 100 && (leader_of(sim).empty() || !committed_in_term(*replica(sim, leader_of(sim))));
       ++i) {
    sim.run_for(std::chrono::milliseconds(50));
  }
  sim.run_for(sim.fault_rng().between(Duration{0}, Duration{std::chrono::milliseconds(50)}));
  const NodeId old_leader = leader_of(sim);
  OMNI_ASSERT(!old_leader.empty(), "a 5-server LAN cluster elects a leader within 6 s");
  const omni::raft::Term old_term = replica(sim, old_leader)->raft().term();
  sim.crash(old_leader);
  const Time crashed_at = sim.now();
  std::optional<Duration> elected;
  // Event by event, so the times are exact; bounded by 10 s of simulated time.
  const Time give_up = crashed_at + std::chrono::seconds(10);
  while (sim.now() < give_up && sim.step()) {
    const NodeId leader = leader_of(sim);
    if (leader.empty() || leader == old_leader) continue;
    const Replica& r = *replica(sim, leader);
    if (r.raft().term() <= old_term) continue;
    if (!elected.has_value()) elected = sim.now() - crashed_at;
    if (committed_in_term(r)) return Trial{*elected, sim.now() - crashed_at};
  }
  OMNI_ASSERT(false,
              "no new leader committed within 10 s of the crash, seed " + std::to_string(seed));
  return {};
}

double ms(Duration d) {
  return static_cast<double>(d.count()) / 1e6;
}

void print_distribution(const char* what, std::vector<Duration> values) {
  std::sort(values.begin(), values.end());
  const auto at = [&](double q) {
    const auto i = static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
    return values[i];
  };
  std::printf("%-34s min %7.1f  median %7.1f  p99 %7.1f  max %7.1f  (ms)\n", what,
              ms(values.front()), ms(at(0.5)), ms(at(0.99)), ms(values.back()));
}

void speed(std::uint64_t simulated_s, std::uint64_t seed) {
  omni::sim::Simulation sim(omni::sim::SimConfig{.seed = seed, .network = lan()});
  add_cluster(sim, std::chrono::milliseconds(1));
  const auto wall_start = std::chrono::steady_clock::now();
  const auto status = sim.run_for(std::chrono::seconds(simulated_s));
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  OMNI_ASSERT(status == omni::sim::RunStatus::deadline);
  const auto& c = sim.counters();
  std::printf("speed: 5 servers, a proposal every ~1 ms, %llu simulated s, no checkers\n",
              static_cast<unsigned long long>(simulated_s));
  std::printf("  events %llu, messages delivered %llu, persists %llu, wall %.3f s\n",
              static_cast<unsigned long long>(c.events),
              static_cast<unsigned long long>(c.messages_delivered),
              static_cast<unsigned long long>(c.persists), wall_s);
  std::printf("  events per wall second          %.0f\n", static_cast<double>(c.events) / wall_s);
  std::printf("  simulated seconds per wall second %.1f\n",
              static_cast<double>(simulated_s) / wall_s);
}

std::uint64_t arg_or(int argc, char** argv, int index, std::uint64_t fallback) {
  return argc > index ? std::strtoull(argv[index], nullptr, 10) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t trials = arg_or(argc, argv, 1, 1000);
  const std::uint64_t speed_s = arg_or(argc, argv, 2, 60);
  const std::uint64_t seed = arg_or(argc, argv, 3, 1);
  OMNI_ASSERT(trials > 0 && speed_s > 0);

  std::vector<Duration> elected;
  std::vector<Duration> committed;
  const auto wall_start = std::chrono::steady_clock::now();
  for (std::uint64_t t = 0; t < trials; ++t) {
    const Trial trial = failover_trial(seed + t);
    elected.push_back(trial.elected);
    committed.push_back(trial.committed);
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::printf(
      "fail-over: 5 servers, election timeout 150..300 ms, heartbeat 50 ms, pre-vote,\n"
      "check-quorum, latency 0.1..0.5 ms; leader crashed; %llu trials (seeds %llu..%llu), "
      "wall %.1f s\n",
      static_cast<unsigned long long>(trials), static_cast<unsigned long long>(seed),
      static_cast<unsigned long long>(seed + trials - 1), wall_s);
  print_distribution("crash -> new leader elected", elected);
  print_distribution("crash -> new leader committed", committed);
  const auto under = [&](Duration bound) {
    return std::count_if(elected.begin(), elected.end(), [&](Duration d) { return d <= bound; });
  };
  std::printf("elected within 300 ms: %lld/%llu, within 1 s: %lld/%llu\n",
              static_cast<long long>(under(std::chrono::milliseconds(300))),
              static_cast<unsigned long long>(trials),
              static_cast<long long>(under(std::chrono::seconds(1))),
              static_cast<unsigned long long>(trials));
  speed(speed_s, seed);
  return 0;
}
