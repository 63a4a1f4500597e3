#pragma once
// One process's simulated disk: an append-only log of records, as Persist describes it.
//  - sync=true makes every record so far durable (an fsync covers all earlier writes).
//  - sync=false records stay volatile: a crash loses them unless a later sync came first.
//  - replace=true drops every earlier record; an unsynced replace that is followed by a crash
//    is lost as a whole, and the records it replaced come back (the atomic-rename pattern).
//  - corrupt() flips bytes in one record; fail_next_persist() makes the next persist fail (EIO),
//    which the simulator turns into a crash of the process (fail-stop on fsync errors).
#include <cstdint>
#include <string>
#include <vector>

#include "model/core/rng.h"

namespace omni::sim {

enum class PersistStatus : std::uint8_t { ok, eio };

class SimDisk {
 public:
  PersistStatus persist(const std::string& record, bool sync, bool replace);
  // The process crashed: keep only what is durable.
  void crash();
  // Flips 1..3 bytes of one random non-empty record; false when there is none.
  bool corrupt(Rng& rng);
  // The next persist (or every persist, when sticky) fails with EIO until clear_failures().
  void fail_next_persist(bool sticky);
  void clear_failures();
  // TEST ONLY: a disk that forgets even what was synced (for checkers that must fire).
  void testing_forget_everything();

  // What a restart hands to Start{persisted}.
  const std::vector<std::string>& records() const { return records_; }
  std::size_t durable_count() const { return durable_count_; }
  std::uint64_t bytes_written() const { return bytes_written_; }

 private:
  void sync_all();

  std::vector<std::string> records_;  // the current view, durable prefix first
  std::size_t durable_count_ = 0;     // records_[0, durable_count_) survive a crash
  bool shadow_active_ = false;        // an unsynced replace hides these durable records
  std::vector<std::string> shadow_;
  std::uint32_t failures_pending_ = 0;
  bool failures_sticky_ = false;
  std::uint64_t bytes_written_ = 0;
};

}  // namespace omni::sim
