#pragma once
// The simulator's single queue of future events, ordered by (time, sequence). The sequence is
// the order of scheduling, so two events at the same instant run in the order they were made:
// no tie is ever broken by a pointer or a hash.
#include <cstdint>
#include <vector>

#include "model/core/time.h"

namespace omni::sim {

enum class EventType : std::uint8_t {
  start,        // (re)start a process: process, arg = incarnation it must have
  deliver,      // arg = message slot
  tick,         // process, arg = incarnation, arg2 = the local time asked for (ns)
  driver_done,  // arg = pending driver result slot
  action,       // arg = scheduled action slot
};

// Small and trivially copyable: payloads live in slabs, the queue moves 40-byte records.
struct Event {
  std::int64_t at_ns = 0;
  std::uint64_t seq = 0;
  EventType type = EventType::tick;
  std::uint32_t process = 0;
  std::uint64_t arg = 0;
  std::int64_t arg2 = 0;

  Time at() const { return time_from_ns(at_ns); }
};

struct EventLater {
  bool operator()(const Event& a, const Event& b) const {
    if (a.at_ns != b.at_ns) return a.at_ns > b.at_ns;
    return a.seq > b.seq;
  }
};

class EventQueue {
 public:
  // Stamps the event with the next sequence number and queues it; returns that number.
  std::uint64_t push(Event event);
  // The earliest event; the queue must not be empty.
  const Event& top() const;
  // Removes and returns the earliest event.
  Event pop();
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  std::uint64_t scheduled_total() const { return next_seq_; }

 private:
  void sift_up(std::size_t index);
  void sift_down(std::size_t index);

  // A 4-ary min-heap: half the depth of a binary heap, and the four children of a node are
  // 160 contiguous bytes, so a pop touches about half the cache lines std::priority_queue did.
  static constexpr std::size_t arity = 4;
  std::vector<Event> heap_;
  std::uint64_t next_seq_ = 0;
};

}  // namespace omni::sim
