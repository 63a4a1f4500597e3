#pragma once
// The deterministic simulator (FoundationDB / TigerBeetle style): one thread, one virtual
// clock, one event queue ordered by (time, sequence), one seed. It hosts model components
// (omni::Component), executes their outputs in order, and injects faults into the network,
// the disks and the clocks. Same seed and build => same trace hash.
//
//   omni::sim::Simulation sim({.seed = 7});
//   sim.add_process("a", [](omni::Rng rng) { return std::make_unique<MyComponent>(rng); });
//   sim.add_checker(std::make_unique<MyInvariant>());
//   sim.after(2s, [](Simulation& s) { s.partition({{"a"}, {"b", "c"}}); });
//   sim.run_for(10s);
//   if (sim.violation()) puts(sim.violation()->to_string().c_str());
#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/core/assert.h"
#include "model/core/rng.h"
#include "model/core/step.h"
#include "sim/checker.h"
#include "sim/disk/sim_disk.h"
#include "sim/driver.h"
#include "sim/event_queue.h"
#include "sim/net/address_book.h"
#include "sim/net/link_faults.h"
#include "sim/net/network.h"
#include "sim/net/raft_wire.h"
#include "sim/skewed_clock.h"
#include "sim/slab.h"
#include "sim/trace.h"

namespace omni::sim {

struct SimConfig {
  std::uint64_t seed = 1;
  NetworkConfig network{};
  bool record_events = false;  // keep the full event list (Trace::events), not just the hash
  std::uint64_t max_events = 1'000'000'000;  // a run stops with RunStatus::event_limit here
  // More events than this without the clock moving is a livelock (e.g. a component asking
  // for a Tick in the past at every Tick); it is reported as the violation "livelock".
  std::uint64_t max_events_per_instant = 1'000'000;
  // How long a synced persist takes: a step's messages sent after one leave that much later,
  // as a real host's replies wait for its fsync. Zero (the default): a sync is instant.
  Duration sync_latency{0};
};

struct SimCounters {
  std::uint64_t events = 0;  // every event taken off the queue
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_delivered = 0;
  std::uint64_t messages_dropped = 0;  // for any reason, the sum of the three below
  std::uint64_t messages_dropped_random = 0;
  std::uint64_t messages_dropped_blocked = 0;  // partition, cut, isolation, destination down
  std::uint64_t messages_unparseable = 0;
  std::uint64_t messages_duplicated = 0;
  std::uint64_t messages_reordered = 0;
  std::uint64_t ticks = 0;
  std::uint64_t wakes_coalesced = 0;  // a WakeAt for an already pending instant
  std::uint64_t persists = 0;
  std::uint64_t persist_failures = 0;
  std::uint64_t starts = 0;
  std::uint64_t crashes = 0;
  std::uint64_t exits = 0;
  std::uint64_t driver_calls = 0;
};

enum class RunStatus : std::uint8_t { deadline, violation, event_limit };

// Builds a fresh component for a (re)start; `rng` is an independent generator for it.
using ComponentFactory = std::function<std::unique_ptr<Component>(Rng rng)>;
// A scheduled action (a fault schedule, a test step); runs as an event.
using Action = std::function<void(Simulation&)>;
// Told, as an event of its own, that a process stopped by itself (an Exit, or fail-stop on a
// disk error) rather than being crashed from outside: what supervises it must see it exit.
using ExitListener = std::function<void(const Address&)>;

class Simulation final : private DriverHost {
 public:
  explicit Simulation(SimConfig config);
  ~Simulation() override;
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // Processes ----------------------------------------------------------------------------
  // Registers a process and schedules its first Start after `start_after`.
  void add_process(const Address& address, ComponentFactory factory, Duration start_after = 0ns);
  // Volatile state is lost now: the component is destroyed, unsynced records are dropped.
  void crash(const Address& address);
  // Crashes the process if it is up, then starts a fresh component after `after`.
  void restart(const Address& address, Duration after = 0ns);
  bool is_up(const Address& address) const;
  bool is_up(AddressId id) const {  // inline: checkers ask it of every replica after a step
    return id < processes_.size() && processes_[id].registered && processes_[id].up;
  }
  Component* component(const Address& address) const;  // null when down
  std::uint64_t incarnation(const Address& address) const;
  std::uint64_t incarnation(AddressId id) const;
  const SimDisk& disk(const Address& address) const;
  std::size_t process_count() const { return book_.size(); }
  const Address& address(std::size_t id) const { return book_.address_of(id); }
  Component* component(std::size_t id) const;

  // Network ------------------------------------------------------------------------------
  void set_network(const NetworkConfig& config);
  const NetworkConfig& network() const { return network_; }
  // Maps addresses to locations; faults below name locations (default: the address).
  void set_location_resolver(LocationResolver resolver);
  // Resolves `address`'s location again (a process starting on a machine the resolver now
  // knows); until then it keeps the one it had when first named.
  void relocate(const Address& address);
  void partition(const std::vector<std::vector<std::string>>& location_groups);
  void cut(const std::string& from_location, const std::string& to_location);
  void uncut(const std::string& from_location, const std::string& to_location);
  void isolate(const std::string& location, Direction direction = Direction::both);
  void unisolate(const std::string& location);
  void heal();  // partitions, cuts and isolations
  bool link_blocked(const Address& from, const Address& to);
  bool link_blocked(AddressId from, AddressId to) const;
  // The id of `address`, interning it on first use (ids are in the trace: intern in the order
  // the addresses are first met).
  AddressId address_id(const Address& address) { return intern(address); }
  // Puts raw bytes on the wire as if `from` had sent them (tests of the unparseable path).
  void inject_raw_message(const Address& from, const Address& to, std::string bytes,
                          Duration delay);

  // Disk and clock faults ----------------------------------------------------------------
  bool corrupt_disk(const Address& address);  // false when there is no record to corrupt
  void fail_disk(const Address& address, bool sticky = false);  // EIO on the next persist(s)
  void clear_disk_failures(const Address& address);
  void testing_forget_disk(const Address& address);  // TEST ONLY: synced records are lost too
  void set_clock_rate(const Address& address, double rate);
  Time local_now(const Address& address);

  // Drivers, schedules, checkers ---------------------------------------------------------
  void set_driver_handler(std::unique_ptr<DriverHandler> handler);
  void at(Time when, Action action);
  void after(Duration delay, Action action);
  void add_checker(std::unique_ptr<Checker> checker);
  // The checkers' names, in the order they run.
  std::vector<std::string> checker_names() const;
  void set_exit_listener(ExitListener listener);

  // Running ------------------------------------------------------------------------------
  // Processes one event; false when there is none or the run has a violation.
  bool step();
  // Runs every event up to and including `deadline`, then sets the clock to it.
  RunStatus run_until(Time deadline);
  RunStatus run_for(Duration duration) { return run_until(now_ + duration); }
  // Runs every checker's liveness check; true when none failed.
  bool check_liveness();
  // Stops the run (checkers call this through CheckContext::fail).
  void report_violation(std::string invariant, std::string message, std::vector<Address> processes);

  // Results ------------------------------------------------------------------------------
  Time now() const override { return now_; }
  std::uint64_t seed() const { return config_.seed; }
  const SimCounters& counters() const { return counters_; }
  const std::map<std::string, std::int64_t>& named_counters() const { return named_counters_; }
  void bump(const std::string& counter, std::int64_t delta = 1);
  std::uint64_t trace_hash() const { return trace_.hash(); }
  const Trace& trace() const { return trace_; }
  const std::optional<Violation>& violation() const { return violation_; }
  // For fault schedules drawn from the seed; independent of the network's draws.
  Rng& fault_rng() { return fault_rng_; }
  // For the swarm's draws only, keyed on the seed and drawing from no other stream: a run whose
  // swarm faults are replayed as scripted faults (omni-sim shrink) keeps every other draw.
  Rng& swarm_rng() { return swarm_rng_; }
  const AddressBook& addresses() const { return book_; }
  std::size_t queued_events() const { return queue_.size(); }
  // Of those, the scheduled actions (a scenario's faults, all queued when the run starts).
  std::size_t scheduled_actions() const { return actions_.in_use(); }
  // The process stepped by the event just processed, if any: lets checkers look only at what
  // changed instead of scanning thousands of components after every event.
  // Inline: every checker asks after every event.
  std::optional<AddressId> stepped_in_last_event() const {
    if (last_stepped_event_ != counters_.events || counters_.events == 0) return std::nullopt;
    return last_stepped_;
  }
  // While the safety checks after an event run: the live component that event stepped, found
  // once for all of them (null when none stepped or it exited in the step).
  const Component* checked_component() const { return checked_component_; }

 private:
  // A name of at most 16 bytes as three words that hold all of it (its length, and its first and
  // last eight bytes, which overlap): two such names are equal exactly when their keys are.
  // Comparing and keeping keys costs a few instructions where a string costs a call or a copy.
  struct NameKey {
    std::uint64_t size = 0;
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    bool operator==(const NameKey&) const = default;
    static std::optional<NameKey> of(const Address& name);
  };
  // The last few addresses a process sent to, with their ids (an address keeps its id for the
  // whole run): most processes send to one to four others, and comparing a name's key with these
  // is a fraction of hashing it and probing the address book, once for every message. A process
  // that sends to many others in no order (the 1,000 peers of bench-sim-speed) would pay for a
  // memory that never answers, so after kMissesBeforeRest misses in a row it is not asked for
  // kRestSends sends.
  class RecentDestinations {
   public:
    // Inline, as they are asked at every send.
    // While it rests: true, and one send fewer left to rest.
    bool resting() {
      if (rest_left_ == 0) return false;
      --rest_left_;
      return true;
    }
    // The id remembered for `key`; a miss counts towards a rest.
    std::optional<AddressId> recall(const NameKey& key) {
      for (std::size_t i = 0; i < count_; ++i)
        if (keys_[i] == key) {
          misses_ = 0;
          return ids_[i];
        }
      if (++misses_ >= kMissesBeforeRest) {
        misses_ = 0;
        rest_left_ = kRestSends;
      }
      return std::nullopt;
    }
    // Replaces the oldest entry (round robin).
    void remember(const NameKey& key, AddressId id) {
      const std::size_t entry = next_;
      keys_[entry] = key;
      ids_[entry] = id;
      next_ = static_cast<std::uint8_t>((entry + 1) % kEntries);
      count_ = static_cast<std::uint8_t>(std::max<std::size_t>(count_, entry + 1));
      OMNI_ASSERT(count_ <= kEntries && next_ < kEntries);
    }

   private:
    static constexpr std::size_t kEntries = 4;
    static constexpr std::uint8_t kMissesBeforeRest = 8;
    static constexpr std::uint16_t kRestSends = 256;
    std::array<NameKey, kEntries> keys_{};
    std::array<AddressId, kEntries> ids_{};
    std::uint8_t count_ = 0;
    std::uint8_t next_ = 0;  // the entry replaced next
    std::uint8_t misses_ = 0;
    std::uint16_t rest_left_ = 0;
  };
  struct Process {
    bool registered = false;
    bool up = false;
    std::uint64_t incarnation = 0;
    ComponentFactory factory;
    std::unique_ptr<Component> component;
    SimDisk disk;
    SkewedClock clock;
    std::vector<std::int64_t> pending_wakes_local_ns;
    RecentDestinations destinations;
  };
  struct InFlight {
    AddressId from = 0;
    AddressId to = 0;
    std::uint32_t copies_left = 0;
    // Raw bytes a test put on the wire (has_envelope false), parsed at delivery; otherwise a
    // scratch buffer for libprotobuf's encoding of the envelope, which is hashed into the trace.
    std::string bytes;
    // The message as sent, delivered as it is: parsing the bytes again was a tenth of the Raft
    // workload, and an encoding and a parse give back an equal message.
    bool has_envelope = false;
    v1::Envelope envelope;
  };
  struct PendingDriverResult {
    DriverTicket ticket;
    DriverResult result;
  };

  AddressId intern(const Address& address);
  AddressId destination_id(AddressId sender, const Address& to);
  Process& process_of(const Address& address);
  const Process& process_of(const Address& address) const;
  void record(EventKind kind, AddressId process, AddressId peer, std::uint64_t detail);
  void record_fault(std::uint64_t detail);

  // Dispatch of queued events (simulation.cc).
  void dispatch(const Event& event);
  void on_start(const Event& event);
  void on_deliver(const Event& event);
  void on_tick(const Event& event);
  void on_driver_done(const Event& event);
  void on_action(const Event& event);
  void release_message(std::uint64_t slot);
  void drop_message(const InFlight& message, DropReason reason);
  void step_component(AddressId id, const Input& input);
  void run_safety_checks();
  std::uint64_t checkers_due();
  std::uint64_t checkers_watching(const Component& component) const;

  // Execution of a component's outputs (simulation_outputs.cc).
  void execute_outputs(AddressId id);
  void do_send(AddressId id, Send& send, Duration after_sync);
  bool received_envelope(InFlight& message, v1::Envelope& into);
  void enqueue_message(AddressId from, AddressId to, std::uint64_t slot, Duration delay);
  bool do_persist(AddressId id, const Persist& persist);
  void do_wake(AddressId id, Time at_local);
  void do_driver_call(AddressId id, const DriverCall& call);
  void do_exit(AddressId id);
  void notify_exit(AddressId id);
  void stop_process(AddressId id);
  void complete(const DriverTicket& ticket, Duration delay, DriverResult result) override;
  Rng& driver_rng() override { return driver_rng_; }

  SimConfig config_;
  NetworkConfig network_;
  Time now_{};
  Rng net_rng_;
  Rng fault_rng_;
  Rng driver_rng_;
  Rng spawn_rng_;
  Rng swarm_rng_;
  EventQueue queue_;
  AddressBook book_;
  LinkFaults links_;
  std::vector<Process> processes_;  // by address id; may grow, so hold ids, not references
  Slab<InFlight> messages_;
  Slab<PendingDriverResult> driver_results_;
  Slab<Action> actions_;
  std::unique_ptr<DriverHandler> driver_;
  ExitListener exit_listener_;
  std::vector<std::unique_ptr<Checker>> checkers_;
  std::vector<std::string> checker_names_;  // asked once: the checks run after every event
  // Which checkers run after an event, as bits of checkers_ indices (in order, so the first
  // violation found is the same whichever checkers are skipped).
  static constexpr std::size_t kMaxCheckers = 64;
  std::uint64_t every_event_checkers_ = 0;
  struct Watchers {
    bool valid = false;
    std::uint64_t incarnation = 0;
    std::uint64_t checkers = 0;  // the checkers that watch this incarnation's steps
  };
  std::vector<Watchers> watchers_;  // by address id
  Outputs outputs_;                 // scratch: the outputs of the step being executed
  Input deliver_input_{Deliver{}};
  Input tick_input_{Tick{}};
  Trace trace_;
  RaftWire raft_wire_;  // the encoder of most messages' bytes for the trace
  SimCounters counters_;
  std::map<std::string, std::int64_t> named_counters_;
  std::optional<Violation> violation_;
  std::uint64_t events_at_instant_ = 0;
  AddressId last_stepped_ = 0;
  std::uint64_t last_stepped_event_ = 0;          // counters_.events when last_stepped_ was stepped
  const Component* checked_component_ = nullptr;  // set by checkers_due()
};

}  // namespace omni::sim
