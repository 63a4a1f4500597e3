#include "sim/event_queue.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
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

}  // namespace
}  // namespace omni::sim
