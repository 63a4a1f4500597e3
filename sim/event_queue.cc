#include "sim/event_queue.h"

#include "model/core/assert.h"

namespace omni::sim {

std::uint64_t EventQueue::push(Event event) {
  OMNI_ASSERT(event.at_ns >= 0, "events are scheduled after the epoch");
  event.seq = next_seq_++;
  heap_.push(event);
  OMNI_ASSERT(!heap_.empty());
  return event.seq;
}

const Event& EventQueue::top() const {
  OMNI_ASSERT(!heap_.empty(), "top() of an empty event queue");
  return heap_.top();
}

Event EventQueue::pop() {
  OMNI_ASSERT(!heap_.empty(), "pop() of an empty event queue");
  Event event = heap_.top();
  heap_.pop();
  OMNI_ASSERT(event.seq < next_seq_);
  return event;
}

}  // namespace omni::sim
