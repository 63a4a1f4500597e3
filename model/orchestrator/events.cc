#include "model/orchestrator/events.h"

#include <algorithm>
#include <iterator>

#include "model/core/assert.h"

namespace omni::orchestrator {

void EventLog::add(Time at, std::string kind, std::string text) {
  OMNI_ASSERT(!kind.empty() && !text.empty());
  OMNI_ASSERT(events_.empty() || events_.back().at <= at, "one replica's clock never goes back");
  events_.push_back(ClusterEvent{next_seq_++, at, std::move(kind), std::move(text)});
  if (events_.size() > kCapacity) events_.pop_front();
  OMNI_ASSERT(events_.size() <= kCapacity);
}

SetChange set_change(const std::set<std::string>& before, const std::set<std::string>& after) {
  SetChange change;
  std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                      std::back_inserter(change.added));
  std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                      std::back_inserter(change.removed));
  OMNI_ASSERT(change.added.size() <= after.size() && change.removed.size() <= before.size());
  return change;
}

}  // namespace omni::orchestrator
