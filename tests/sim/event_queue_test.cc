#include "sim/event_queue.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "model/core/assert.h"

namespace omni::sim {
namespace {

TEST(EventQueue, OrdersByTimeThenSequence) {
  EventQueue queue;
  // (time, tag): the tag says which was pushed when.
  const std::vector<std::pair<std::int64_t, std::uint64_t>> pushes = {
      {30, 0}, {10, 1}, {20, 2}, {10, 3}, {30, 4}, {0, 5}, {10, 6}};
  for (const auto& [at, tag] : pushes) queue.push(Event{.at_ns = at, .arg = tag});
  const std::vector<std::uint64_t> expected_tags = {5, 1, 3, 6, 2, 0, 4};
  std::vector<std::uint64_t> tags;
  while (!queue.empty()) tags.push_back(queue.pop().arg);
  EXPECT_EQ(tags, expected_tags);
}

TEST(EventQueue, PopOfEmptyQueueIsAnAssertion) {
  EventQueue queue;
  EXPECT_THROW(queue.pop(), AssertionFailure);
}

RC_GTEST_PROP(EventQueueProps, PopsInTimeThenSequenceOrder, (std::vector<std::uint16_t> times)) {
  EventQueue queue;
  for (const auto at : times) queue.push(Event{.at_ns = at});
  std::vector<std::tuple<std::int64_t, std::uint64_t>> popped;
  while (!queue.empty()) {
    const Event event = queue.pop();
    popped.emplace_back(event.at_ns, event.seq);
  }
  RC_ASSERT(popped.size() == times.size());
  RC_ASSERT(std::is_sorted(popped.begin(), popped.end()));
}

// Pushes and pops interleaved, as a simulation does (slots are freed and taken again), against a
// sorted set of (time, sequence) as the reference.
RC_GTEST_PROP(EventQueueProps, InterleavedPushesAndPopsFollowASortedReference,
              (std::vector<std::pair<bool, std::uint16_t>> steps)) {
  EventQueue queue;
  std::set<std::pair<std::int64_t, std::uint64_t>> reference;
  for (const auto& [pop, at] : steps) {
    if (pop && !queue.empty()) {
      const Event event = queue.pop();
      RC_ASSERT(std::make_pair(event.at_ns, event.seq) == *reference.begin());
      RC_ASSERT(event.arg == event.seq);  // the payload is the one pushed with this sequence
      reference.erase(reference.begin());
    } else {
      const std::uint64_t seq = queue.scheduled_total();
      RC_ASSERT(queue.push(Event{.at_ns = at, .arg = seq}) == seq);
      reference.emplace(at, seq);
    }
    RC_ASSERT(queue.size() == reference.size());
    if (!queue.empty()) RC_ASSERT(queue.top().seq == reference.begin()->second);
  }
}

// Bursts of pushes and pops, so the queue grows past the size at which it becomes a heap and
// shrinks back below the size at which it is sorted again, many times over, against the same
// sorted reference.
RC_GTEST_PROP(EventQueueProps, BurstsAcrossBothLayoutsFollowASortedReference,
              (std::vector<std::tuple<bool, std::uint8_t, std::uint16_t>> bursts)) {
  EventQueue queue;
  std::set<std::pair<std::int64_t, std::uint64_t>> reference;
  std::size_t largest = 0;
  for (const auto& [pop, count, at] : bursts) {
    for (int i = 0; i < count; ++i) {
      if (pop) {
        if (queue.empty()) break;
        const Event event = queue.pop();
        RC_ASSERT(std::make_pair(event.at_ns, event.seq) == *reference.begin());
        reference.erase(reference.begin());
      } else {
        // Times spread from the burst's start, some equal: the sequence breaks the ties.
        const std::int64_t when = at + (i * 7919) % 1000;
        const std::uint64_t seq = queue.push(Event{.at_ns = when});
        reference.emplace(when, seq);
      }
      RC_ASSERT(queue.size() == reference.size());
      if (!queue.empty()) RC_ASSERT(queue.top().seq == reference.begin()->second);
    }
    largest = std::max(largest, queue.size());
  }
  RC_TAG(largest > 64 ? "became a heap" : "stayed sorted");
}

TEST(EventQueue, AQueueThatGrowsAndShrinksPopsInOrder) {
  EventQueue queue;
  std::set<std::pair<std::int64_t, std::uint64_t>> reference;
  const auto push = [&](std::int64_t at) { reference.emplace(at, queue.push(Event{.at_ns = at})); };
  const auto pop_down_to = [&](std::size_t size) {
    while (queue.size() > size) {
      const Event event = queue.pop();
      ASSERT_EQ(std::make_pair(event.at_ns, event.seq), *reference.begin());
      reference.erase(reference.begin());
    }
  };
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 500; ++i) push((i * 7919 + round * 104729) % 3000);  // a heap from 65
    pop_down_to(10);  // sorted again below 32
    for (int i = 0; i < 40; ++i) push(i % 5);
    pop_down_to(0);
  }
  EXPECT_TRUE(reference.empty());
}

}  // namespace
}  // namespace omni::sim
