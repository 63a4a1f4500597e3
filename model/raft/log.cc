#include "model/raft/log.h"

#include <algorithm>

#include "model/core/assert.h"

namespace omni::raft {

const char* role_name(Role role) {
  switch (role) {
    case Role::follower:
      return "follower";
    case Role::pre_candidate:
      return "pre_candidate";
    case Role::candidate:
      return "candidate";
    case Role::leader:
      return "leader";
  }
  return "?";
}

Term RaftLog::last_term() const {
  return entries_.empty() ? snapshot_term_ : entries_.back().term();
}

std::optional<Term> RaftLog::term_at(Index index) const {
  if (index == snapshot_index_) return snapshot_term_;
  if (index < snapshot_index_ || index > last_index()) return std::nullopt;
  return at(index).term();
}

bool RaftLog::matches(Index index, Term term) const {
  const std::optional<Term> held = term_at(index);
  return held.has_value() && *held == term;
}

const v1::RaftEntry& RaftLog::at(Index index) const {
  OMNI_ASSERT(index > snapshot_index_ && index <= last_index(), "index " + std::to_string(index));
  const v1::RaftEntry& entry = entries_[index - snapshot_index_ - 1];
  OMNI_ASSERT(entry.index() == index);
  return entry;
}

std::span<const v1::RaftEntry> RaftLog::entries_from(Index index) const {
  OMNI_ASSERT(index >= first_index() && index <= last_index() + 1,
              "index " + std::to_string(index));
  const std::span<const v1::RaftEntry> suffix(entries_.data() + (index - first_index()),
                                              last_index() + 1 - index);
  OMNI_ASSERT(suffix.empty() || suffix.front().index() == index);
  return suffix;
}

void RaftLog::append(v1::RaftEntry entry) {
  OMNI_ASSERT(entry.index() == last_index() + 1, "append must be contiguous");
  OMNI_ASSERT(entry.term() >= last_term(), "terms in the log never decrease");
  entries_.push_back(std::move(entry));
}

void RaftLog::truncate_from(Index index) {
  OMNI_ASSERT(index > snapshot_index_, "cannot truncate into the snapshot");
  OMNI_ASSERT(index <= last_index() + 1);
  entries_.resize(index - snapshot_index_ - 1);
}

std::size_t RaftLog::slice_size(Index lo, Index hi, std::size_t count_max,
                                std::size_t bytes_max) const {
  OMNI_ASSERT(lo >= first_index(), "slice reaches into the snapshot");
  OMNI_ASSERT(count_max > 0);
  std::size_t size = 0;
  std::size_t bytes = 0;
  for (Index i = lo; i <= std::min(hi, last_index()) && size < count_max; ++i) {
    bytes += at(i).data().size();
    if (size > 0 && bytes > bytes_max) break;
    ++size;
  }
  return size;
}

void RaftLog::compact_to(Index index, Term term) {
  OMNI_ASSERT(index >= snapshot_index_, "compaction never goes backwards");
  if (matches(index, term)) {
    entries_.erase(entries_.begin(), entries_.begin() + (index - snapshot_index_));
  } else {
    entries_.clear();
  }
  snapshot_index_ = index;
  snapshot_term_ = term;
  OMNI_ASSERT(entries_.empty() || entries_.front().index() == index + 1);
}

}  // namespace omni::raft
