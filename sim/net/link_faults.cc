#include "sim/net/link_faults.h"

#include "model/core/assert.h"

namespace omni::sim {
namespace {

void grow_to(std::vector<std::uint8_t>& flags, LocationId location) {
  if (flags.size() <= location) flags.resize(location + 1, 0);
}

}  // namespace

void LinkFaults::partition(const std::vector<std::vector<LocationId>>& groups) {
  OMNI_ASSERT(groups.size() >= 2, "a partition needs at least two groups");
  group_of_.assign(group_of_.size(), -1);
  for (std::size_t group = 0; group < groups.size(); ++group) {
    for (const LocationId location : groups[group]) {
      if (group_of_.size() <= location) group_of_.resize(location + 1, -1);
      OMNI_ASSERT(group_of_[location] == -1, "a location is in two partition groups");
      group_of_[location] = static_cast<std::int64_t>(group);
    }
  }
  partitioned_ = true;
  refresh_any();
  OMNI_ASSERT(any_);
}

void LinkFaults::heal_partition() {
  group_of_.assign(group_of_.size(), -1);
  partitioned_ = false;
  refresh_any();
  OMNI_ASSERT(!partitioned_);
}

void LinkFaults::cut(LocationId from, LocationId to) {
  OMNI_ASSERT(from != to, "a location cannot be cut from itself");
  cuts_.emplace(from, to);
  refresh_any();
  OMNI_ASSERT(any_);
}

void LinkFaults::uncut(LocationId from, LocationId to) {
  cuts_.erase({from, to});
  refresh_any();
  OMNI_ASSERT(!cuts_.contains({from, to}));
}

void LinkFaults::isolate(LocationId location, Direction direction) {
  unisolate(location);
  grow_to(isolated_in_, location);
  grow_to(isolated_out_, location);
  isolated_in_[location] = direction != Direction::out;
  isolated_out_[location] = direction != Direction::in;
  ++isolated_count_;
  refresh_any();
  OMNI_ASSERT(any_);
}

void LinkFaults::unisolate(LocationId location) {
  const bool in = location < isolated_in_.size() && isolated_in_[location];
  const bool out = location < isolated_out_.size() && isolated_out_[location];
  if (!in && !out) return;
  OMNI_ASSERT(isolated_count_ > 0);
  isolated_in_[location] = 0;
  isolated_out_[location] = 0;
  --isolated_count_;
  refresh_any();
}

void LinkFaults::heal() {
  heal_partition();
  cuts_.clear();
  isolated_in_.assign(isolated_in_.size(), 0);
  isolated_out_.assign(isolated_out_.size(), 0);
  isolated_count_ = 0;
  refresh_any();
  OMNI_ASSERT(!any_);
}

std::int64_t LinkFaults::group_of(LocationId location) const {
  return location < group_of_.size() ? group_of_[location] : -1;
}

bool LinkFaults::blocked_slow(LocationId from, LocationId to) const {
  if (from == to) return false;  // a location always reaches itself
  if (partitioned_) {
    const std::int64_t a = group_of(from);
    const std::int64_t b = group_of(to);
    if (a >= 0 && b >= 0 && a != b) return true;
  }
  if (from < isolated_out_.size() && isolated_out_[from]) return true;
  if (to < isolated_in_.size() && isolated_in_[to]) return true;
  return !cuts_.empty() && cuts_.contains({from, to});
}

void LinkFaults::refresh_any() {
  any_ = partitioned_ || !cuts_.empty() || isolated_count_ > 0;
}

}  // namespace omni::sim
