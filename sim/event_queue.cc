#include "sim/event_queue.h"

#include <algorithm>

#include "model/core/assert.h"

namespace omni::sim {

std::uint64_t EventQueue::push(Event event) {
  OMNI_ASSERT(event.at_ns >= 0, "events are scheduled after the epoch");
  event.seq = next_seq_++;
  heap_.push_back(event);
  sift_up(heap_.size() - 1);
  OMNI_ASSERT(!heap_.empty());
  return event.seq;
}

const Event& EventQueue::top() const {
  OMNI_ASSERT(!heap_.empty(), "top() of an empty event queue");
  return heap_.front();
}

Event EventQueue::pop() {
  OMNI_ASSERT(!heap_.empty(), "pop() of an empty event queue");
  const Event event = heap_.front();
  heap_.front() = heap_.back();
  heap_.pop_back();
  if (!heap_.empty()) sift_down(0);
  OMNI_ASSERT(event.seq < next_seq_);
  OMNI_ASSERT(heap_.empty() || !EventLater{}(event, heap_.front()), "popped in order");
  return event;
}

namespace {

// (time, sequence) as one number: the order of EventLater, compared without a branch between
// the two fields, so the choice among four children below compiles to conditional moves. The
// children's order is the schedule's own coin: mispredicted branches on it were most of the
// heap's cost.
unsigned __int128 key_of(const Event& event) {
  return (static_cast<unsigned __int128>(static_cast<std::uint64_t>(event.at_ns)) << 64) |
         event.seq;
}

}  // namespace

// Moves the event at `index` up past every later parent: holes instead of swaps.
void EventQueue::sift_up(std::size_t index) {
  const Event moving = heap_[index];
  const unsigned __int128 moving_key = key_of(moving);
  while (index > 0) {
    const std::size_t parent = (index - 1) / arity;
    if (key_of(heap_[parent]) <= moving_key) break;
    heap_[index] = heap_[parent];
    index = parent;
  }
  heap_[index] = moving;
}

// Moves the event at `index` down below every earlier child.
void EventQueue::sift_down(std::size_t index) {
  const Event moving = heap_[index];
  const unsigned __int128 moving_key = key_of(moving);
  const std::size_t size = heap_.size();
  for (;;) {
    const std::size_t first = index * arity + 1;
    if (first >= size) break;
    const std::size_t last = std::min(first + arity, size);
    std::size_t earliest = first;
    unsigned __int128 earliest_key = key_of(heap_[first]);
    for (std::size_t child = first + 1; child < last; ++child) {
      const unsigned __int128 child_key = key_of(heap_[child]);
      const bool earlier = child_key < earliest_key;
      earliest_key = earlier ? child_key : earliest_key;
      earliest = earlier ? child : earliest;
    }
    if (moving_key <= earliest_key) break;
    heap_[index] = heap_[earliest];
    index = earliest;
  }
  heap_[index] = moving;
}

}  // namespace omni::sim
