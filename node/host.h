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
  // Thread-safe: the message is stepped on the loop, in arrival order.
  void deliver(Address from, v1::Envelope envelope);

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
  void enqueue(Input input);
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
  std::deque<Input> inbox_;
  bool drain_posted_ = false;
  bool stopped_ = false;
  std::optional<LogError> failure_;
  HostCounters counters_;
  std::function<void()> on_stop_;
  std::function<void(const Component&)> after_step_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for answers from workers
};

}  // namespace omni::node
