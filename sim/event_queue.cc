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

// Moves the event at `index` up past every later parent: holes instead of swaps.
void EventQueue::sift_up(std::size_t index) {
  const Event moving = heap_[index];
  while (index > 0) {
    const std::size_t parent = (index - 1) / arity;
    if (!EventLater{}(heap_[parent], moving)) break;
    heap_[index] = heap_[parent];
    index = parent;
  }
  heap_[index] = moving;
}

// Moves the event at `index` down below every earlier child.
void EventQueue::sift_down(std::size_t index) {
  const Event moving = heap_[index];
  const std::size_t size = heap_.size();
  for (;;) {
    const std::size_t first = index * arity + 1;
    if (first >= size) break;
    const std::size_t last = std::min(first + arity, size);
    std::size_t earliest = first;
    for (std::size_t child = first + 1; child < last; ++child)
      if (EventLater{}(heap_[earliest], heap_[child])) earliest = child;
    if (!EventLater{}(moving, heap_[earliest])) break;
    heap_[index] = heap_[earliest];
    index = earliest;
  }
  heap_[index] = moving;
}

}  // namespace omni::sim
