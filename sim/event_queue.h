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
  bool empty() const { return events_.empty(); }
  std::size_t size() const { return events_.size(); }
  std::uint64_t scheduled_total() const { return next_seq_; }

 private:
  void insert_sorted(const Event& event);
  void become_heap();
  void become_sorted();
  void sift_up(std::size_t index);
  void sift_down(std::size_t index);

  // Two layouts of the same events, for two sizes of queue. A cluster keeps a few dozen events
  // queued (swarm seed 3: 24 on average, 51 at most), and there they are kept sorted latest first:
  // a pop takes the last, and a push moves only the events due before it, which for a message
  // are few. A simulation of a thousand peers queues thousands, and there a 4-ary min-heap does
  // (half the depth of a binary heap; the four children of a node are 160 contiguous bytes).
  // The keys are unique, so both pop in the same order.
  static constexpr std::size_t arity = 4;
  static constexpr std::size_t kSortedAtMost = 64;  // a larger queue becomes a heap
  static constexpr std::size_t kHeapAtLeast = 32;   // a smaller heap becomes sorted again
  std::vector<Event> events_;                       // sorted latest first, or a heap when is_heap_
  bool is_heap_ = false;
  std::uint64_t next_seq_ = 0;
};

}  // namespace omni::sim
