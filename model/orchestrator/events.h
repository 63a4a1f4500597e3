#pragma once
// What happened in the cluster, as one replica saw it, for a person: `omni events`, `omni
// status -w` and the dashboard. Kept in memory and never replicated: a new leader tells what it
// saw itself, from its own clock. Bounded, oldest dropped first.
#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "model/core/time.h"

namespace omni::orchestrator {

struct ClusterEvent {
  std::uint64_t seq = 0;  // 1, 2, ... in the order this replica saw them
  Time at{};              // this replica's clock
  std::string kind;       // leader | member | director | vm | container | app
  std::string text;       // one line for a person
};

class EventLog {
 public:
  static constexpr std::size_t kCapacity = 256;

  void add(Time at, std::string kind, std::string text);
  const std::deque<ClusterEvent>& events() const { return events_; }

 private:
  std::deque<ClusterEvent> events_;
  std::uint64_t next_seq_ = 1;
};

// Names in `after` and not in `before`, and in `before` and not in `after`; both sorted.
struct SetChange {
  std::vector<std::string> added;
  std::vector<std::string> removed;
};
SetChange set_change(const std::set<std::string>& before, const std::set<std::string>& after);

}  // namespace omni::orchestrator
