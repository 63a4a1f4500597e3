#pragma once
// Which links between locations are cut. Three independent kinds of fault, all healed by
// heal(): a symmetric partition into groups, one-way cuts (a->b blocked, b->a fine), and
// isolation of one location (in, out or both).
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "sim/net/address_book.h"

namespace omni::sim {

enum class Direction : std::uint8_t { in, out, both };

class LinkFaults {
 public:
  // Locations in different groups cannot talk; a location in no group talks to everyone.
  // Replaces any earlier partition.
  void partition(const std::vector<std::vector<LocationId>>& groups);
  void heal_partition();
  void cut(LocationId from, LocationId to);
  void uncut(LocationId from, LocationId to);
  void isolate(LocationId location, Direction direction);
  void unisolate(LocationId location);
  void heal();

  bool blocked(LocationId from, LocationId to) const {
    if (!any_) return false;
    return blocked_slow(from, to);
  }
  bool any() const { return any_; }

 private:
  bool blocked_slow(LocationId from, LocationId to) const;
  void refresh_any();
  std::int64_t group_of(LocationId location) const;

  std::vector<std::int64_t> group_of_;  // by location, -1: in no group
  bool partitioned_ = false;
  std::set<std::pair<LocationId, LocationId>> cuts_;
  std::vector<std::uint8_t> isolated_in_;   // by location
  std::vector<std::uint8_t> isolated_out_;  // by location
  std::size_t isolated_count_ = 0;
  bool any_ = false;
};

}  // namespace omni::sim
