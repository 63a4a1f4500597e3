#pragma once
// The real host of one component: the loop the simulator runs, on a real clock, disk and
// network. One thread (whoever runs the io_context) steps the component and executes its
// outputs in order, as Simulation::execute_outputs does:
//
//   Send       -> the transport (never blocks the loop; a peer that is down loses the message)
//   Persist    -> the durable log; a synced record is on disk before any later output
//   WakeAt     -> a steady timer; the earliest pending wake fires one Tick
//   DriverCall -> a bounded worker pool; the answer comes back as a DriverDone input
//   Exit       -> the loop stops stepping the component
//
// A failed persist (EIO, a full disk) stops the component on the spot (fail-stop), as the
// simulator models it. Model time is the monotonic clock; no persisted record depends on it.
#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "model/core/step.h"
#include "node/durable_log.h"

namespace omni::node {

// Where a host's Sends go. The mutual-TLS transport implements it; tests use a loopback.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void send(const Address& from, const Address& to, const v1::Envelope& envelope) = 0;
};

// What a node holds of received messages not yet stepped, in bytes: a peer (any holder of a
// cluster certificate) that sends faster than the node steps must not grow its memory without
// end. Past the limit a message is dropped, as the network may drop any. Thread-safe: the
// transport's threads admit, the loop releases once the message is stepped.
class InboxBudget {
 public:
  // Three of the largest envelopes (80 MiB, a snapshot) fit, and heartbeats by the million.
  static constexpr std::size_t kDefaultLimitBytes = std::size_t{256} << 20;
  // What a message costs beside its encoding: an empty envelope is not free to hold.
  static constexpr std::size_t kPerMessageBytes = 256;

  explicit InboxBudget(std::size_t limit_bytes = kDefaultLimitBytes) : limit_bytes_(limit_bytes) {}
  // What it holds in memory once parsed, not its encoding: empty repeated submessages take two
  // bytes each on the wire and fifty or more parsed.
  static std::size_t cost_of(const v1::Envelope& envelope) {
    return std::max(envelope.ByteSizeLong(), envelope.SpaceUsedLong()) + kPerMessageBytes;
  }
  // True, and the bytes held, when they fit; false (a message dropped) when they do not.
  bool admit(std::size_t bytes);
  void release(std::size_t bytes);
  std::size_t held_bytes() const { return held_bytes_.load(); }
  std::uint64_t dropped() const { return dropped_.load(); }

 private:
  const std::size_t limit_bytes_;
  std::atomic<std::size_t> held_bytes_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

// Runs one driver op to completion, on a worker thread (never on the loop).
using DriverRunner = std::function<DriverResult(const DriverOp& op)>;

struct HostCounters {
  std::uint64_t steps = 0;
  std::uint64_t sends = 0;
  std::uint64_t persists = 0;
  std::uint64_t syncs = 0;  // fdatasyncs: one per batch of steps that asked for any
  std::uint64_t driver_calls = 0;
  std::uint64_t ticks = 0;
  double persist_seconds = 0;  // time spent in the log, syncs included
  double driver_seconds = 0;   // time driver ops took on the workers
};

class Host {
 public:
  Host(boost::asio::io_context& io, Address self, std::unique_ptr<Component> component,
       DurableLog log, std::vector<std::string> replayed, Transport& transport, DriverRunner driver,
       std::size_t driver_workers = 4);
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // Steps Start with the replayed records (on the loop).
  void start();
  // Thread-safe: the message is stepped on the loop, in arrival order. `admitted_bytes` of
  // `budget` (set_inbox_budget) are released once it is stepped, or dropped by a stopped host.
  void deliver(Address from, v1::Envelope envelope, std::size_t admitted_bytes = 0);
  // The budget the transport admits received messages against; it outlives the host.
  void set_inbox_budget(InboxBudget* budget) { budget_ = budget; }
  const InboxBudget* inbox_budget() const { return budget_; }

  // Called on the loop after every step, with the component: what the host logs or exports.
  void set_after_step(std::function<void(const Component&)> after) {
    after_step_ = std::move(after);
  }
  // Called on the loop once the component stops (an Exit, or a failed persist).
  void set_on_stop(std::function<void()> on_stop) { on_stop_ = std::move(on_stop); }
  bool stopped() const { return stopped_; }
  const std::optional<LogError>& failure() const { return failure_; }
  const HostCounters& counters() const { return counters_; }
  const Address& self() const { return self_; }
  const Component& component() const { return *component_; }

 private:
  // Inputs wait in an inbox; one drain steps all that are waiting (up to kMaxBatch) and then
  // executes their outputs together, in order, with one fdatasync for the batch: what follows a
  // record that must be synced goes out after it (group commit). One step at a time gives the
  // same outputs in the same order; only the number of syncs differs.
  static constexpr std::size_t kMaxBatch = 256;
  struct Waiting {
    Input input;
    std::size_t admitted_bytes = 0;  // of budget_, released once stepped
  };
  void enqueue(Input input, std::size_t admitted_bytes = 0);
  void release(std::size_t admitted_bytes);
  void drain();
  void execute(const Outputs& outputs);
  void execute_one(const Output& output);
  void fail(LogError error);
  void wake_at(Time at);
  void arm_timer();
  void on_timer();
  void call_driver(const DriverCall& call);
  void stop();
  Time now() const;

  boost::asio::io_context& io_;
  Address self_;
  std::unique_ptr<Component> component_;
  DurableLog log_;
  std::vector<std::string> replayed_;
  Transport& transport_;
  DriverRunner driver_;
  boost::asio::thread_pool workers_;
  boost::asio::steady_timer timer_;
  std::set<Time> wakes_;  // pending WakeAt instants, earliest first
  std::optional<Time> armed_for_;
  std::deque<Waiting> inbox_;
  InboxBudget* budget_ = nullptr;
  bool drain_posted_ = false;
  bool stopped_ = false;
  std::optional<LogError> failure_;
  HostCounters counters_;
  std::function<void()> on_stop_;
  std::function<void(const Component&)> after_step_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for answers from workers
};

}  // namespace omni::node
