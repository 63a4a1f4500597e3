#pragma once
// The run's fingerprint. Every event the simulator executes is folded into one running 64-bit
// hash; the same seed and build give the same hash on every machine. The full event list is
// kept only on request (it costs memory and time), for Chrome traces and mermaid diagrams.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/core/ops.h"
#include "model/core/time.h"

namespace omni::sim {

enum class EventKind : std::uint8_t {
  start,         // a process (re)started
  deliver,       // a message reached its destination
  send,          // a message left its source
  drop,          // a message was lost (fault, partition, destination down, unparseable)
  tick,          // a WakeAt fired
  persist,       // a record reached the simulated disk
  persist_fail,  // an injected EIO: the process crashes
  driver_call,   // a DriverCall was handed to the driver handler
  driver_done,   // a driver result reached the process
  crash,         // a process lost its volatile state
  exit,          // a process stopped on its own
  fault,         // a network, disk or clock fault was injected or healed
  action,        // a scheduled action ran
};

std::string_view name_of(EventKind kind);

// Why a message was dropped; recorded in TraceEvent::detail for drops.
enum class DropReason : std::uint8_t {
  random,            // NetworkConfig::drop_probability
  link_blocked,      // partition, cut or isolation
  destination_down,  // nobody is running at the address
  unparseable,       // the bytes are not a v1::Envelope
};

std::string_view name_of(DropReason reason);

struct TraceEvent {
  Time at{};
  EventKind kind = EventKind::tick;
  std::uint32_t process = 0;  // address id of the acting process
  std::uint32_t peer = 0;     // the other end of a message, or 0
  std::uint64_t detail = 0;   // body case of a message, drop reason, record size, ...
};

// 64-bit words folded with a multiply-rotate mix (own code, fixed constants): order-sensitive,
// platform-independent, and cheap enough to run on every event.
class TraceHash {
 public:
  void mix(std::uint64_t word);
  void mix_bytes(std::string_view bytes);
  std::uint64_t value() const { return state_; }

 private:
  std::uint64_t state_ = 0xcbf29ce484222325ULL;  // FNV-1a offset basis
};

class Trace {
 public:
  explicit Trace(bool record_events) : record_events_(record_events) {}

  // Folds the event into the hash and, when recording, appends it to the list.
  void add(const TraceEvent& event);
  // Extra bytes that identify the event (a message's wire bytes, a record).
  void add_bytes(std::string_view bytes) { hash_.mix_bytes(bytes); }
  // What a driver was asked and what it answered, field by field, so that a change in either
  // (another VM name, a different error) changes the hash even when the events around it do not.
  void add_op(const DriverOp& op);
  void add_result(const DriverResult& result);
  // The records a process was started with: what its disk kept through crashes and faults.
  void add_records(const std::vector<std::string>& records);

  std::uint64_t hash() const { return hash_.value(); }
  std::uint64_t event_count() const { return event_count_; }
  bool recording() const { return record_events_; }
  const std::vector<TraceEvent>& events() const { return events_; }

 private:
  bool record_events_;
  TraceHash hash_;
  std::uint64_t event_count_ = 0;
  std::vector<TraceEvent> events_;
};

}  // namespace omni::sim
