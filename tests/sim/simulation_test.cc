#include "sim/simulation.h"

#include <gtest/gtest.h>

#include <map>

#include "tests/sim/toys.h"

namespace omni::sim {
namespace {

// Ping-pong: "ping" sends n=0 at start; each side answers n with n+1 until n reaches 10.
ComponentFactory ping_pong(Address peer, bool starts, std::vector<std::uint64_t>* seen) {
  return testing::lambda_factory([peer, starts, seen](const Input& input, Outputs& out) {
    if (std::holds_alternative<Start>(input) && starts) out.push_back(testing::send_hello(peer, 0));
    if (const auto* deliver = std::get_if<Deliver>(&input)) {
      const std::uint64_t n = deliver->envelope.hello().incarnation();
      seen->push_back(n);
      if (n < 10) out.push_back(testing::send_hello(deliver->from, n + 1));
    }
  });
}

TEST(Simulation, PingPongRunsToTheEnd) {
  std::vector<std::uint64_t> ping_seen, pong_seen;
  Simulation sim(SimConfig{.network = {.latency_min = 1ms, .latency_max = 1ms}});
  sim.add_process("ping", ping_pong("pong", true, &ping_seen));
  sim.add_process("pong", ping_pong("ping", false, &pong_seen));
  EXPECT_EQ(sim.run_for(1s), RunStatus::deadline);
  EXPECT_EQ(pong_seen, (std::vector<std::uint64_t>{0, 2, 4, 6, 8, 10}));
  EXPECT_EQ(ping_seen, (std::vector<std::uint64_t>{1, 3, 5, 7, 9}));
  EXPECT_EQ(sim.counters().messages_sent, 11U);
  EXPECT_EQ(sim.counters().messages_delivered, 11U);
  EXPECT_EQ(sim.now(), time_from_ns(0) + 1s);
  EXPECT_EQ(sim.queued_events(), 0U);
}

// A sync takes SimConfig::sync_latency: what a step sends after a synced persist leaves that
// much later (twice after two); what it sends before one, or after an unsynced one, does not wait.
TEST(Simulation, MessagesSentAfterASyncedPersistWaitForIt) {
  for (const Duration sync : {Duration{0}, Duration{14ms}}) {
    SCOPED_TRACE(sync.count());
    std::map<std::uint64_t, Time> arrived;  // hello's incarnation -> when
    Simulation sim(
        SimConfig{.network = {.latency_min = 1ms, .latency_max = 1ms}, .sync_latency = sync});
    sim.add_process("writer", testing::lambda_factory([](const Input& input, Outputs& out) {
                      if (!std::holds_alternative<Start>(input)) return;
                      out.push_back(testing::send_hello("reader", 1));
                      out.push_back(Persist{.record = "a", .sync = false});
                      out.push_back(testing::send_hello("reader", 2));
                      out.push_back(Persist{.record = "b", .sync = true});
                      out.push_back(testing::send_hello("reader", 3));
                      out.push_back(Persist{.record = "c", .sync = true});
                      out.push_back(testing::send_hello("reader", 4));
                    }));
    sim.add_process("reader", testing::lambda_factory([&](const Input& input, Outputs&) {
                      if (const auto* deliver = std::get_if<Deliver>(&input))
                        arrived[deliver->envelope.hello().incarnation()] = deliver->now;
                    }));
    sim.run_for(1s);
    const Time start = time_from_ns(0);
    ASSERT_EQ(arrived.size(), 4u);
    EXPECT_EQ(arrived[1], start + 1ms);
    EXPECT_EQ(arrived[2], start + 1ms);  // an unsynced persist is not waited for
    EXPECT_EQ(arrived[3], start + 1ms + sync);
    EXPECT_EQ(arrived[4], start + 1ms + 2 * sync);
  }
}

// Which receiver the sender's n-th message goes to: first three in turns (the memory of recent
// destinations answers), then seven in turns (it keeps missing, and rests), then, once the rest
// is over, three others in turns (it answers again).
int receiver_of_send(std::uint64_t n) {
  if (n < 30) return static_cast<int>(1 + n % 3);
  if (n < 60) return static_cast<int>(n % 7);
  return static_cast<int>(n % 2 == 0 ? 4 : n % 3 == 0 ? 2 : 5);
}

// A sender remembers its last four destinations: whether the memory answers, misses, rests or
// answers again, each message reaches the process it names (including one whose address is first
// used as a destination, and one never added). The names are short (under 8 bytes), middling (8
// to 16: "receiver-1" and "receiver-2" share their first 8) and long (over 16, never
// remembered).
TEST(Simulation, MessagesToManyDestinationsInTurnReachEach) {
  constexpr int kReceivers = 7;
  constexpr std::uint64_t kSends = 400;  // the rest (256 sends) ends well before the last
  std::map<Address, std::vector<testing::Arrival>> arrivals;
  Simulation sim(SimConfig{.network = {.latency_min = 1ms, .latency_max = 1ms}});
  const auto name_of = [](int r) {
    const std::string n = std::to_string(r);
    return r == 6 ? "a-receiver-with-a-long-name-" + n : r % 3 == 0 ? "r" + n : "receiver-" + n;
  };
  sim.add_process("sender", testing::lambda_factory([&](const Input& input, Outputs& out) {
                    if (!std::holds_alternative<Start>(input)) return;
                    for (std::uint64_t n = 0; n < kSends; ++n)
                      out.push_back(testing::send_hello(name_of(receiver_of_send(n)), n));
                  }));
  for (int r = kReceivers - 1; r >= 1; --r)
    sim.add_process(name_of(r), testing::receiver(&arrivals[name_of(r)]));
  sim.run_for(1s);
  // r0 was never added: its messages were sent and dropped, not delivered elsewhere.
  EXPECT_EQ(sim.counters().messages_sent, kSends);
  for (int r = 1; r < kReceivers; ++r) {
    SCOPED_TRACE(name_of(r));
    std::vector<std::uint64_t> expected;
    for (std::uint64_t n = 0; n < kSends; ++n)
      if (receiver_of_send(n) == r) expected.push_back(n);
    std::vector<std::uint64_t> got;
    for (const auto& arrival : arrivals[name_of(r)]) {
      EXPECT_EQ(arrival.from, "sender");
      got.push_back(arrival.n);
    }
    EXPECT_EQ(got, expected);
  }
}

TEST(Simulation, ACrashDiscardsTimersOfTheOldIncarnation) {
  int ticks = 0, starts = 0;
  Simulation sim(SimConfig{});
  sim.add_process("p", testing::lambda_factory([&](const Input& input, Outputs& out) {
                    if (std::holds_alternative<Start>(input)) {
                      ++starts;
                      out.push_back(WakeAt{now_of(input) + 1s});
                    }
                    if (std::holds_alternative<Tick>(input)) ++ticks;
                  }));
  sim.after(500ms, [](Simulation& s) { s.restart("p", 100ms); });
  sim.run_for(1200ms);
  EXPECT_EQ(starts, 2);
  EXPECT_EQ(ticks, 0);  // the first timer died with its incarnation; the second is at 1.6s
  sim.run_for(500ms);
  EXPECT_EQ(ticks, 1);
}

TEST(Simulation, RepeatedWakeAtForOneInstantIsCoalesced) {
  int ticks = 0;
  Simulation sim(SimConfig{});
  sim.add_process("p", testing::lambda_factory([&](const Input& input, Outputs& out) {
                    if (std::holds_alternative<Tick>(input)) ++ticks;
                    if (now_of(input) >= time_from_ns(0) + 1s) return;
                    for (int i = 0; i < 3; ++i) out.push_back(WakeAt{time_from_ns(0) + 1s});
                  }));
  sim.run_for(2s);
  EXPECT_EQ(ticks, 1);
  EXPECT_GE(sim.counters().wakes_coalesced, 2U);
}

TEST(Simulation, AComponentThatNeverLetsTimeMoveIsALivelock) {
  Simulation sim(SimConfig{.max_events_per_instant = 1000});
  sim.add_process("p", testing::lambda_factory([](const Input& input, Outputs& out) {
                    out.push_back(WakeAt{now_of(input)});  // due now, forever
                  }));
  EXPECT_EQ(sim.run_for(1s), RunStatus::violation);
  EXPECT_EQ(sim.violation()->invariant, "livelock");
  EXPECT_EQ(sim.violation()->processes, (std::vector<Address>{"p"}));
}

TEST(Simulation, DefaultDriverAnswersUnavailable) {
  std::vector<DriverDone> done;
  Simulation sim(SimConfig{});
  sim.add_process("p", testing::lambda_factory([&](const Input& input, Outputs& out) {
                    if (std::holds_alternative<Start>(input)) {
                      VmOp op;
                      op.name = "vm-1";
                      out.push_back(DriverCall{.op_id = 42, .op = op});
                    }
                    if (const auto* d = std::get_if<DriverDone>(&input)) done.push_back(*d);
                  }));
  sim.run_for(1s);
  ASSERT_EQ(done.size(), 1U);
  EXPECT_EQ(done[0].op_id, 42U);
  EXPECT_EQ(done[0].result.status, DriverStatus::unavailable);
  EXPECT_EQ(sim.counters().driver_calls, 1U);
}

// One process that persists `record` and asks the driver for `vm` when it first starts, then is
// restarted: the run's hash, which must tell apart runs that differ only in those bytes.
std::uint64_t hash_of_run(const std::string& record, const std::string& vm) {
  Simulation sim(SimConfig{});
  sim.add_process("p", testing::lambda_factory([=](const Input& input, Outputs& out) {
                    const auto* start = std::get_if<Start>(&input);
                    if (!start || !start->persisted.empty()) return;
                    out.push_back(Persist{.record = record});
                    VmOp op;
                    op.name = vm;
                    out.push_back(DriverCall{.op_id = 1, .op = op});
                  }));
  sim.run_for(1s);
  sim.restart("p");
  sim.run_for(1s);
  return sim.trace_hash();
}

// Same events, same sizes, other bytes: the hash covers what was persisted, what a driver was
// asked and (through the restart) what a process was started with.
TEST(Simulation, TheTraceHashCoversRecordsAndDriverOpsNotOnlyEvents) {
  const std::uint64_t base = hash_of_run("term:1", "vm-1");
  EXPECT_EQ(hash_of_run("term:1", "vm-1"), base);
  EXPECT_NE(hash_of_run("term:2", "vm-1"), base) << "a persisted record of the same size";
  EXPECT_NE(hash_of_run("term:1", "vm-2"), base) << "a driver op for another VM";
}

TEST(Simulation, ExitStopsTheProcessAndIgnoresLaterOutputs) {
  Simulation sim(SimConfig{});
  sim.add_process("p", testing::lambda_factory([](const Input&, Outputs& out) {
                    out.push_back(Persist{.record = "kept", .sync = false});
                    out.push_back(Exit{});
                    out.push_back(testing::send_hello("q", 1));
                  }));
  sim.run_for(1s);
  EXPECT_FALSE(sim.is_up("p"));
  EXPECT_EQ(sim.component("p"), nullptr);
  EXPECT_EQ(sim.counters().exits, 1U);
  EXPECT_EQ(sim.counters().messages_sent, 0U);
  EXPECT_EQ(sim.disk("p").records(), (std::vector<std::string>{"kept"}));  // a clean stop
}

TEST(Simulation, NamedCountersAreOrdered) {
  Simulation sim(SimConfig{});
  sim.bump("zeta");
  sim.bump("alpha", 3);
  sim.bump("zeta");
  std::vector<std::pair<std::string, std::int64_t>> seen(sim.named_counters().begin(),
                                                         sim.named_counters().end());
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::int64_t>>{{"alpha", 3}, {"zeta", 2}}));
}

TEST(Simulation, MisuseIsAnAssertion) {
  Simulation sim(SimConfig{});
  EXPECT_THROW(sim.crash("nobody"), AssertionFailure);
  sim.add_process("p", testing::lambda_factory([](const Input&, Outputs&) {}));
  EXPECT_THROW(sim.add_process("p", testing::lambda_factory([](const Input&, Outputs&) {})),
               AssertionFailure);
  EXPECT_THROW(sim.set_network({.latency_min = 5ms, .latency_max = 1ms}), AssertionFailure);
}

}  // namespace
}  // namespace omni::sim
