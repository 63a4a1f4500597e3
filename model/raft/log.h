#pragma once
// The in-memory Raft log: a snapshot point (index, term) followed by contiguous entries.
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "model/proto/raft.pb.h"
#include "model/raft/types.h"

namespace omni::raft {

class RaftLog {
 public:
  Index snapshot_index() const { return snapshot_index_; }
  Term snapshot_term() const { return snapshot_term_; }
  Index first_index() const { return snapshot_index_ + 1; }
  Index last_index() const { return snapshot_index_ + entries_.size(); }
  Term last_term() const;
  // The term of the entry at `index`; nullopt when compacted away or beyond the end.
  std::optional<Term> term_at(Index index) const;
  bool matches(Index index, Term term) const;
  const v1::RaftEntry& at(Index index) const;
  const std::vector<v1::RaftEntry>& entries() const { return entries_; }
  // The entries from `index` (first_index() <= index <= last_index() + 1) to the end, in place.
  std::span<const v1::RaftEntry> entries_from(Index index) const;

  void append(v1::RaftEntry entry);
  // Drops every entry at or after `index` (index > snapshot_index).
  void truncate_from(Index index);
  // How many of the entries [lo, hi] (lo >= first_index) make a batch of at most `count_max`
  // and about `bytes_max` (at least one): callers read them in place with at().
  std::size_t slice_size(Index lo, Index hi, std::size_t count_max, std::size_t bytes_max) const;
  // Drops entries up to `index` and makes (index, term) the snapshot point. Keeps the suffix
  // when the log holds (index, term); otherwise drops everything.
  void compact_to(Index index, Term term);

 private:
  Index snapshot_index_ = 0;
  Term snapshot_term_ = 0;
  std::vector<v1::RaftEntry> entries_;  // entries_[i].index() == snapshot_index_ + 1 + i
};

}  // namespace omni::raft
