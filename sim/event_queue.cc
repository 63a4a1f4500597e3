#include "sim/event_queue.h"

#include <algorithm>

#include "model/core/assert.h"

namespace omni::sim {
namespace {

// (time, sequence) as one number: the order of EventLater, compared without a branch between
// the two fields, so the choice among four children below compiles to conditional moves. The
// children's order is the schedule's own coin: mispredicted branches on it were most of the
// heap's cost.
unsigned __int128 key_of(const Event& event) {
  return (static_cast<unsigned __int128>(static_cast<std::uint64_t>(event.at_ns)) << 64) |
         event.seq;
}

bool key_later(const Event& a, const Event& b) {
  return key_of(a) > key_of(b);
}

}  // namespace

std::uint64_t EventQueue::push(Event event) {
  OMNI_ASSERT(event.at_ns >= 0, "events are scheduled after the epoch");
  event.seq = next_seq_++;
  if (!is_heap_ && events_.size() >= kSortedAtMost) become_heap();
  if (is_heap_) {
    events_.push_back(event);
    sift_up(events_.size() - 1);
  } else {
    insert_sorted(event);
  }
  OMNI_ASSERT(!events_.empty());
  return event.seq;
}

const Event& EventQueue::top() const {
  OMNI_ASSERT(!events_.empty(), "top() of an empty event queue");
  return is_heap_ ? events_.front() : events_.back();
}

Event EventQueue::pop() {
  OMNI_ASSERT(!events_.empty(), "pop() of an empty event queue");
  if (!is_heap_) {
    const Event event = events_.back();
    events_.pop_back();
    OMNI_ASSERT(events_.empty() || !EventLater{}(event, events_.back()), "popped in order");
    return event;
  }
  const Event event = events_.front();
  events_.front() = events_.back();
  events_.pop_back();
  if (!events_.empty()) sift_down(0);
  OMNI_ASSERT(event.seq < next_seq_);
  OMNI_ASSERT(events_.empty() || !EventLater{}(event, events_.front()), "popped in order");
  if (events_.size() < kHeapAtLeast) become_sorted();
  return event;
}

// Latest first: the event moves down past every event due before it (walked from the earliest
// end, since most pushes are messages due soon).
void EventQueue::insert_sorted(const Event& event) {
  OMNI_ASSERT(!is_heap_);
  const unsigned __int128 key = key_of(event);
  events_.push_back(event);
  std::size_t index = events_.size() - 1;
  while (index > 0 && key_of(events_[index - 1]) < key) {
    events_[index] = events_[index - 1];
    --index;
  }
  events_[index] = event;
  OMNI_ASSERT(index == 0 || key_of(events_[index - 1]) > key, "kept latest first");
}

// A queue sorted latest first, reversed, is sorted earliest first: a min-heap as it stands.
void EventQueue::become_heap() {
  OMNI_ASSERT(!is_heap_);
  std::reverse(events_.begin(), events_.end());
  is_heap_ = true;
  OMNI_ASSERT(events_.empty() || !EventLater{}(events_.front(), events_.back()));
}

void EventQueue::become_sorted() {
  OMNI_ASSERT(is_heap_);
  std::sort(events_.begin(), events_.end(), key_later);
  is_heap_ = false;
  OMNI_ASSERT(events_.empty() || !EventLater{}(events_.back(), events_.front()));
}

// Moves the event at `index` up past every later parent: holes instead of swaps.
void EventQueue::sift_up(std::size_t index) {
  const Event moving = events_[index];
  const unsigned __int128 moving_key = key_of(moving);
  while (index > 0) {
    const std::size_t parent = (index - 1) / arity;
    if (key_of(events_[parent]) <= moving_key) break;
    events_[index] = events_[parent];
    index = parent;
  }
  events_[index] = moving;
}

// Moves the event at `index` down below every earlier child.
void EventQueue::sift_down(std::size_t index) {
  const Event moving = events_[index];
  const unsigned __int128 moving_key = key_of(moving);
  const std::size_t size = events_.size();
  for (;;) {
    const std::size_t first = index * arity + 1;
    if (first >= size) break;
    const std::size_t last = std::min(first + arity, size);
    std::size_t earliest = first;
    unsigned __int128 earliest_key = key_of(events_[first]);
    for (std::size_t child = first + 1; child < last; ++child) {
      const unsigned __int128 child_key = key_of(events_[child]);
      const bool earlier = child_key < earliest_key;
      earliest_key = earlier ? child_key : earliest_key;
      earliest = earlier ? child : earliest;
    }
    if (moving_key <= earliest_key) break;
    events_[index] = events_[earliest];
    index = earliest;
  }
  events_[index] = moving;
}

}  // namespace omni::sim
