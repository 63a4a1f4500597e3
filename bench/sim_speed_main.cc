// How fast the simulator runs a toy workload: N peers, each waking every ~period and sending
// a Hello to a random peer (which persists every tenth one). Prints events per wall-second and
// simulated seconds per wall-second. A Raft workload can replace this one later.
//
//   bench-sim-speed [peers=1000] [simulated_seconds=10] [seed=1]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "model/core/assert.h"
#include "sim/simulation.h"

namespace {

using omni::Address;
using omni::Duration;

class Chatter : public omni::Component {
 public:
  Chatter(omni::Rng rng, std::size_t peers, Duration period)
      : rng_(rng), peers_(peers), period_(period) {}

  void step(const omni::Input& input, omni::Outputs& out) override {
    if (std::holds_alternative<omni::Deliver>(input)) {
      if (++received_ % 10 == 0) out.push_back(omni::Persist{.record = "r", .sync = true});
      return;
    }
    omni::v1::Envelope envelope;
    envelope.mutable_hello()->set_incarnation(++sent_);
    out.push_back(omni::Send{.to = "peer:" + std::to_string(rng_.below(peers_)),
                             .envelope = std::move(envelope)});
    out.push_back(omni::WakeAt{omni::now_of(input) + rng_.between(period_ / 2, period_)});
  }

 private:
  omni::Rng rng_;
  std::size_t peers_;
  Duration period_;
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
};

std::uint64_t arg_or(int argc, char** argv, int index, std::uint64_t fallback) {
  return argc > index ? std::strtoull(argv[index], nullptr, 10) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t peers = arg_or(argc, argv, 1, 1000);
  const std::uint64_t simulated_s = arg_or(argc, argv, 2, 10);
  const std::uint64_t seed = arg_or(argc, argv, 3, 1);
  OMNI_ASSERT(peers > 0 && simulated_s > 0);

  omni::sim::Simulation sim(
      omni::sim::SimConfig{.seed = seed,
                           .network = {.latency_min = std::chrono::milliseconds(1),
                                       .latency_max = std::chrono::milliseconds(5),
                                       .drop_probability = 0.01,
                                       .duplicate_probability = 0.01,
                                       .reorder_probability = 0.01}});
  for (std::uint64_t i = 0; i < peers; ++i) {
    sim.add_process("peer:" + std::to_string(i), [peers](omni::Rng rng) {
      return std::make_unique<Chatter>(rng, peers, std::chrono::milliseconds(20));
    });
  }
  const auto wall_start = std::chrono::steady_clock::now();
  const auto status = sim.run_for(std::chrono::seconds(simulated_s));
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  OMNI_ASSERT(status == omni::sim::RunStatus::deadline, "the toy workload has no violations");

  const auto& c = sim.counters();
  std::printf("peers                      %llu\n", static_cast<unsigned long long>(peers));
  std::printf("simulated seconds          %llu\n", static_cast<unsigned long long>(simulated_s));
  std::printf("wall seconds               %.3f\n", wall_s);
  std::printf("events                     %llu\n", static_cast<unsigned long long>(c.events));
  std::printf("messages sent / delivered  %llu / %llu\n",
              static_cast<unsigned long long>(c.messages_sent),
              static_cast<unsigned long long>(c.messages_delivered));
  std::printf("events per wall-second     %.0f\n", static_cast<double>(c.events) / wall_s);
  std::printf("simulated s per wall-s     %.2f\n", static_cast<double>(simulated_s) / wall_s);
  std::printf("trace hash                 %016llx\n",
              static_cast<unsigned long long>(sim.trace_hash()));
  return 0;
}
