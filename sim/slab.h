#pragma once
// A vector of reusable slots addressed by index. Freed slots keep their capacity (strings,
// protobuf messages), so a steady stream of messages allocates nothing once warmed up.
#include <cstdint>
#include <vector>

#include "model/core/assert.h"

namespace omni::sim {

template <typename T>
class Slab {
 public:
  // A slot to fill; its previous contents (if any) are left for the caller to overwrite.
  std::uint64_t acquire() {
    if (free_.empty()) {
      slots_.emplace_back();
      return slots_.size() - 1;
    }
    const std::uint64_t index = free_.back();
    free_.pop_back();
    OMNI_ASSERT(index < slots_.size());
    return index;
  }

  void release(std::uint64_t index) {
    OMNI_ASSERT(index < slots_.size(), "release of a slot that does not exist");
    OMNI_ASSERT(free_.size() < slots_.size(), "double release");
    free_.push_back(index);
  }

  T& operator[](std::uint64_t index) {
    OMNI_ASSERT(index < slots_.size());
    return slots_[index];
  }

  std::size_t in_use() const { return slots_.size() - free_.size(); }

 private:
  std::vector<T> slots_;
  std::vector<std::uint64_t> free_;
};

}  // namespace omni::sim
