#pragma once
// Toy components for the simulator's tests: small, obvious, and not Raft.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/core/step.h"
#include "sim/simulation.h"

namespace omni::sim::testing {

// Behaviour given as a lambda; state the test wants to see lives outside (captured).
class LambdaComponent : public Component {
 public:
  using Fn = std::function<void(const Input&, Outputs&)>;
  explicit LambdaComponent(Fn fn) : fn_(std::move(fn)) {}
  void step(const Input& input, Outputs& out) override { fn_(input, out); }

 private:
  Fn fn_;
};

inline ComponentFactory lambda_factory(LambdaComponent::Fn fn) {
  return [fn](Rng) { return std::make_unique<LambdaComponent>(fn); };
}

inline v1::Envelope hello(std::uint64_t n) {
  v1::Envelope envelope;
  envelope.mutable_hello()->set_incarnation(n);
  return envelope;
}

inline Send send_hello(const Address& to, std::uint64_t n) {
  return Send{.to = to, .envelope = hello(n)};
}

// What a receiver saw: the sequence number and local arrival time of each message.
struct Arrival {
  std::uint64_t n = 0;
  Time at;
  Address from;
};

inline ComponentFactory receiver(std::vector<Arrival>* arrivals) {
  return lambda_factory([arrivals](const Input& input, Outputs&) {
    if (const auto* deliver = std::get_if<Deliver>(&input)) {
      arrivals->push_back({deliver->envelope.hello().incarnation(), deliver->now, deliver->from});
    }
  });
}

// Sends `count` hellos numbered 0..count-1 to `to` when it starts.
inline ComponentFactory burst_sender(Address to, std::uint64_t count) {
  return lambda_factory([to, count](const Input& input, Outputs& out) {
    if (!std::holds_alternative<Start>(input)) return;
    for (std::uint64_t i = 0; i < count; ++i) out.push_back(send_hello(to, i));
  });
}

// A gossiping peer: every `period` it sends a counter to a random peer drawn from its own Rng,
// and persists what it receives (unsynced every third time). A busy, random, replayable load.
class Gossip : public Component {
 public:
  Gossip(Rng rng, std::vector<Address> peers, Duration period)
      : rng_(rng), peers_(std::move(peers)), period_(period) {}

  void step(const Input& input, Outputs& out) override {
    const Time now = now_of(input);
    if (const auto* start = std::get_if<Start>(&input)) {
      received_ = start->persisted.size();
    } else if (const auto* deliver = std::get_if<Deliver>(&input)) {
      ++received_;
      out.push_back(Persist{.record = std::to_string(deliver->envelope.hello().incarnation()),
                            .sync = received_ % 3 != 0});
      return;
    }
    out.push_back(send_hello(peers_[rng_.below(peers_.size())], sent_++));
    out.push_back(WakeAt{now + rng_.between(period_ / 2, period_)});
  }

  std::uint64_t received() const { return received_; }

 private:
  Rng rng_;
  std::vector<Address> peers_;
  Duration period_;
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
};

inline std::vector<Address> gossip_addresses(std::size_t n) {
  std::vector<Address> addresses;
  for (std::size_t i = 0; i < n; ++i) addresses.push_back("peer:" + std::to_string(i));
  return addresses;
}

inline void add_gossip(Simulation& sim, std::size_t n, Duration period) {
  const auto addresses = gossip_addresses(n);
  for (const Address& address : addresses) {
    sim.add_process(address, [addresses, period](Rng rng) {
      return std::make_unique<Gossip>(rng, addresses, period);
    });
  }
}

}  // namespace omni::sim::testing
