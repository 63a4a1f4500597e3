// The real host runs a component exactly as the simulator does: the same script of inputs gives
// the same outputs, in the same order, under both; a restart hands back what was persisted; a
// failed persist stops the component before anything after it happens.
#include "node/host.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <string>
#include <vector>

#include "sim/simulation.h"
#include "tests/node/support.h"

namespace omni::node {
namespace {

namespace fs = std::filesystem;

// Says what it saw and does the same thing for the same input, wherever it runs:
//   Start      -> persist "started:<records>", call the driver (op 1)
//   DriverDone -> send "driver:<message>" to peer, persist "driver", wake 20 ms later
//   Tick       -> send "tick" to peer (once)
//   Deliver    -> send "echo:<seq>" back; at seq 3, persist a record too big to write, then send
//                 "never" (which a failed persist must keep from happening)
class Scripted final : public Component {
 public:
  explicit Scripted(std::vector<std::string>* seen) : seen_(seen) {}
  void step(const Input& input, Outputs& out) override {
    const Time now = now_of(input);
    if (const auto* s = std::get_if<Start>(&input)) {
      std::string records;
      for (const auto& r : s->persisted) records += r + ";";
      seen_->push_back("start:" + records);
      out.push_back(Persist{"started:" + std::to_string(s->persisted.size()), true, false});
      out.push_back(DriverCall{1, ContainerOp{ContainerOpKind::list, "", "", {}, 0, 0}});
    } else if (const auto* d = std::get_if<DriverDone>(&input)) {
      seen_->push_back("driver:" + d->result.message);
      out.push_back(send("peer", "driver:" + d->result.message));
      out.push_back(Persist{"driver", true, false});
      out.push_back(WakeAt{now + 20ms});
    } else if (std::holds_alternative<Tick>(input)) {
      if (ticked_) return;
      ticked_ = true;
      seen_->push_back("tick");
      out.push_back(send("peer", "tick"));
    } else if (const auto* m = std::get_if<Deliver>(&input)) {
      seen_->push_back("deliver:" + m->from + ":" + std::to_string(m->envelope.seq()));
      out.push_back(send(m->from, "echo:" + std::to_string(m->envelope.seq())));
      if (m->envelope.seq() == 3) {
        out.push_back(Persist{std::string(kMaxRecordBytes + 1, 'x'), true, false});
        out.push_back(send(m->from, "never"));
      }
    }
  }

 private:
  static Send send(const Address& to, const std::string& text) {
    v1::Envelope e;
    e.mutable_hello()->set_component(text);
    return Send{to, e};
  }
  std::vector<std::string>* seen_;
  bool ticked_ = false;
};

DriverResult answer(const DriverOp&) {
  DriverResult r;
  r.message = "listed";
  return r;
}

std::optional<std::uint64_t> answer_to(const std::string& text) {
  if (text == "tick") return 2;
  if (text == "echo:2") return 3;
  return std::nullopt;
}

using testing::TempDir;

// The loopback: what the host sends, in order, and a peer that answers "tick" with seq 2, then
// "echo:2" with seq 3 (one at a time, so the simulator's network cannot reorder them).
struct Loopback final : Transport {
  std::mutex mutex;
  std::vector<std::string> sent;
  Host* host = nullptr;
  void send(const Address&, const Address& to, const v1::Envelope& e) override {
    std::lock_guard lock(mutex);
    sent.push_back(to + " " + e.hello().component());
    if (const auto seq = answer_to(e.hello().component())) {
      v1::Envelope reply;
      reply.set_seq(*seq);
      host->deliver("peer", reply);
    }
  }
};

struct HostRun {
  std::vector<std::string> seen;
  std::vector<std::string> sent;
  std::optional<LogError> failure;
};

HostRun run_on_host(const std::string& dir) {
  HostRun run;
  boost::asio::io_context io;
  Replay replay;
  LogError error;
  auto log = DurableLog::open(dir, replay, error);
  EXPECT_TRUE(log.has_value()) << error.message;
  Loopback loopback;
  Host host(io, "scripted", std::make_unique<Scripted>(&run.seen), std::move(*log), replay.records,
            loopback, answer, 2);
  loopback.host = &host;
  host.start();
  io.run_for(std::chrono::seconds(2));
  run.sent = loopback.sent;
  run.failure = host.failure();
  EXPECT_TRUE(host.stopped());
  return run;
}

// The simulator's executor, with a peer that answers the same way.
class SimPeer final : public Component {
 public:
  explicit SimPeer(std::vector<std::string>* sent) : sent_(sent) {}
  void step(const Input& input, Outputs& out) override {
    const auto* d = std::get_if<Deliver>(&input);
    if (!d) return;
    sent_->push_back("peer " + d->envelope.hello().component());
    if (const auto seq = answer_to(d->envelope.hello().component())) {
      v1::Envelope reply;
      reply.set_seq(*seq);
      out.push_back(Send{"scripted", reply});
    }
  }

 private:
  std::vector<std::string>* sent_;
};

class SimAnswer final : public sim::DriverHandler {
 public:
  void call(const Address&, const sim::DriverTicket& ticket, const DriverOp& op,
            sim::DriverHost& host) override {
    host.complete(ticket, 5ms, answer(op));
  }
};

TEST(Host, RunsAComponentAsTheSimulatorDoes) {
  std::vector<std::string> sim_seen;
  std::vector<std::string> sim_sent;
  sim::Simulation simulation(sim::SimConfig{.seed = 4});
  simulation.set_driver_handler(std::make_unique<SimAnswer>());
  simulation.add_process("scripted", [&](Rng) { return std::make_unique<Scripted>(&sim_seen); });
  simulation.add_process("peer", [&](Rng) { return std::make_unique<SimPeer>(&sim_sent); });
  // The simulator's disk takes any record; its EIO stands for the host's failed write. It fails
  // the next persist after "driver": the one at seq 3.
  simulation.after(10ms, [](sim::Simulation& s) { s.fail_disk("scripted"); });
  simulation.run_for(5s);

  TempDir t;
  const HostRun host = run_on_host((t.path / "state").string());
  EXPECT_EQ(host.seen, sim_seen);
  EXPECT_EQ(host.sent, sim_sent);
  EXPECT_EQ(sim_seen, (std::vector<std::string>{"start:", "driver:listed", "tick", "deliver:peer:2",
                                                "deliver:peer:3"}));
  EXPECT_EQ(host.sent, (std::vector<std::string>{"peer driver:listed", "peer tick", "peer echo:2",
                                                 "peer echo:3"}))
      << "\"never\" follows a failed persist and must not be sent";
  ASSERT_TRUE(host.failure.has_value());
  EXPECT_EQ(host.failure->error_number, EFBIG);
}

TEST(Host, ARestartIsHandedWhatWasPersisted) {
  TempDir t;
  const std::string dir = (t.path / "state").string();
  run_on_host(dir);
  const HostRun again = run_on_host(dir);
  ASSERT_FALSE(again.seen.empty());
  EXPECT_EQ(again.seen.front(), "start:started:0;driver;");
}

// Persists each message it is given (synced) and then acknowledges it.
class Acknowledger final : public Component {
 public:
  void step(const Input& input, Outputs& out) override {
    const auto* m = std::get_if<Deliver>(&input);
    if (!m) return;
    out.push_back(Persist{"got:" + std::to_string(m->envelope.seq()), true, false});
    v1::Envelope ack;
    ack.set_seq(m->envelope.seq());
    out.push_back(Send{m->from, ack});
  }
};

// Stops at the first message it is given.
class ExitsOnDeliver final : public Component {
 public:
  void step(const Input& input, Outputs& out) override {
    if (std::holds_alternative<Deliver>(input)) out.push_back(Exit{});
  }
};

struct Recorder final : Transport {
  std::vector<std::uint64_t> acked;
  void send(const Address&, const Address&, const v1::Envelope& e) override {
    acked.push_back(e.seq());
  }
};

// Messages that wait together are stepped together and their records synced once (group
// commit); every acknowledgement still follows its record, in order, and all of them are there
// after a restart.
TEST(Host, InputsThatWaitTogetherShareOneSync) {
  TempDir t;
  const std::string dir = (t.path / "state").string();
  {
    boost::asio::io_context io;
    Replay replay;
    LogError error;
    auto log = DurableLog::open(dir, replay, error);
    ASSERT_TRUE(log.has_value()) << error.message;
    Recorder recorder;
    Host host(io, "acker", std::make_unique<Acknowledger>(), std::move(*log), {}, recorder, answer,
              1);
    host.start();
    for (std::uint64_t seq = 1; seq <= 100; ++seq) {
      v1::Envelope e;
      e.set_seq(seq);
      host.deliver("peer", e);
    }
    io.run_for(std::chrono::milliseconds(500));
    std::vector<std::uint64_t> expected(100);
    std::iota(expected.begin(), expected.end(), 1);
    EXPECT_EQ(recorder.acked, expected);
    EXPECT_EQ(host.counters().persists, 100u);
    EXPECT_EQ(host.counters().steps, 101u);
    EXPECT_EQ(host.counters().syncs, 1u) << "one batch: the 100 waited together";
  }
  Replay replay;
  LogError error;
  ASSERT_TRUE(DurableLog::open(dir, replay, error).has_value());
  ASSERT_EQ(replay.records.size(), 100u);
  EXPECT_EQ(replay.records.front(), "got:1");
  EXPECT_EQ(replay.records.back(), "got:100");
}

// A peer that sends faster than the node steps cannot grow its memory without end: what waits to
// be stepped is admitted against a budget, the rest dropped and counted, and each message's bytes
// come back once it is stepped (or its host has stopped).
TEST(Host, MessagesWaitingToBeSteppedHoldABoundedBudget) {
  TempDir t;
  boost::asio::io_context io;
  Replay replay;
  LogError error;
  auto log = DurableLog::open((t.path / "state").string(), replay, error);
  ASSERT_TRUE(log.has_value()) << error.message;
  Recorder recorder;
  Host host(io, "acker", std::make_unique<Acknowledger>(), std::move(*log), {}, recorder, answer,
            1);
  v1::Envelope e;
  e.set_seq(1);
  e.mutable_hello()->set_component(std::string(1000, 'x'));
  const std::size_t cost = InboxBudget::cost_of(e);
  EXPECT_GT(cost, 1000u + InboxBudget::kPerMessageBytes - 1);
  InboxBudget budget(10 * cost);
  host.set_inbox_budget(&budget);
  host.start();
  std::size_t admitted = 0;
  for (std::uint64_t seq = 1; seq <= 25; ++seq) {  // as the transport's threads do, unstepped
    e.set_seq(seq);
    if (!budget.admit(cost)) continue;
    ++admitted;
    host.deliver("peer", e, cost);
  }
  EXPECT_EQ(admitted, 10u);
  EXPECT_EQ(budget.dropped(), 15u);
  EXPECT_EQ(budget.held_bytes(), 10 * cost);
  io.run_for(std::chrono::milliseconds(300));
  EXPECT_EQ(recorder.acked.size(), 10u);
  EXPECT_EQ(budget.held_bytes(), 0u) << "stepped messages give their bytes back";
  EXPECT_TRUE(budget.admit(10 * cost)) << "and the budget takes as many again";
  EXPECT_FALSE(budget.admit(1));
  budget.release(10 * cost);
  EXPECT_EQ(budget.dropped(), 16u);

  // What a host that stopped still holds, or is handed after, is given back too: the first
  // message makes it exit, the second waits behind it, the third comes after.
  Replay replay2;
  auto log2 = DurableLog::open((t.path / "exiter").string(), replay2, error);
  ASSERT_TRUE(log2.has_value()) << error.message;
  Host exiting(io, "exiter", std::make_unique<ExitsOnDeliver>(), std::move(*log2), {}, recorder,
               answer, 1);
  exiting.set_inbox_budget(&budget);
  exiting.start();
  for (std::uint64_t seq = 1; seq <= 2; ++seq) {
    e.set_seq(seq);
    ASSERT_TRUE(budget.admit(cost));
    exiting.deliver("peer", e, cost);
  }
  io.restart();  // the loop ran out of work above
  io.run_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(exiting.stopped());
  ASSERT_TRUE(budget.admit(cost));
  exiting.deliver("peer", e, cost);
  io.restart();
  io.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(budget.held_bytes(), 0u);

  // Parsed, a message of many empty parts holds far more than its encoding.
  v1::Envelope many;
  for (int i = 0; i < 10'000; ++i) many.mutable_raft()->add_entries();
  EXPECT_GT(InboxBudget::cost_of(many), 10 * many.ByteSizeLong());
}

}  // namespace
}  // namespace omni::node
