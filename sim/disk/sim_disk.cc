#include "sim/disk/sim_disk.h"

#include "model/core/assert.h"

namespace omni::sim {

PersistStatus SimDisk::persist(const std::string& record, bool sync, bool replace) {
  if (failures_sticky_ || failures_pending_ > 0) {
    if (!failures_sticky_) --failures_pending_;
    return PersistStatus::eio;
  }
  if (replace) {
    if (!sync && !shadow_active_) {
      shadow_.assign(std::make_move_iterator(records_.begin()),
                     std::make_move_iterator(records_.begin() + durable_count_));
      shadow_active_ = true;
    }
    records_.clear();
    durable_count_ = 0;
  }
  records_.push_back(record);
  bytes_written_ += record.size();
  if (sync) sync_all();
  OMNI_ASSERT(durable_count_ <= records_.size());
  OMNI_ASSERT(!sync || durable_count_ == records_.size());
  return PersistStatus::ok;
}

void SimDisk::sync_all() {
  durable_count_ = records_.size();
  shadow_active_ = false;
  shadow_.clear();
  OMNI_ASSERT(shadow_.empty());
}

void SimDisk::crash() {
  if (shadow_active_) {
    records_ = std::move(shadow_);
    shadow_.clear();
    shadow_active_ = false;
  } else {
    records_.resize(durable_count_);
  }
  durable_count_ = records_.size();
  OMNI_ASSERT(!shadow_active_ && shadow_.empty());
  OMNI_ASSERT(durable_count_ == records_.size());
}

bool SimDisk::corrupt(Rng& rng) {
  std::vector<std::size_t> candidates;
  for (std::size_t i = 0; i < records_.size(); ++i) {
    if (!records_[i].empty()) candidates.push_back(i);
  }
  if (candidates.empty()) return false;
  std::string& record = records_[candidates[rng.below(candidates.size())]];
  const std::uint64_t flips = 1 + rng.below(3);
  for (std::uint64_t i = 0; i < flips; ++i) {
    const std::uint64_t at = rng.below(record.size());
    const auto mask = static_cast<char>(1 + rng.below(255));  // never zero: a real change
    record[at] = static_cast<char>(record[at] ^ mask);
  }
  OMNI_ASSERT(flips >= 1 && flips <= 3);
  return true;
}

void SimDisk::fail_next_persist(bool sticky) {
  if (sticky) {
    failures_sticky_ = true;
  } else {
    ++failures_pending_;
  }
  OMNI_ASSERT(failures_sticky_ || failures_pending_ > 0);
}

void SimDisk::clear_failures() {
  failures_pending_ = 0;
  failures_sticky_ = false;
}

void SimDisk::testing_forget_everything() {
  records_.clear();
  shadow_.clear();
  shadow_active_ = false;
  durable_count_ = 0;
}

}  // namespace omni::sim
