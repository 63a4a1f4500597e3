#pragma once
// What a leader knows about one peer's log (etcd/raft's Progress), with bounded in-flight appends.
#include <cstddef>
#include <deque>

#include "model/core/time.h"
#include "model/raft/types.h"

namespace omni::raft {

enum class ProgressState {
  probe,      // one append at a time until the match point is found
  replicate,  // optimistic streaming, at most max_inflight_appends unacknowledged
  snapshot,   // an InstallSnapshot is in flight; nothing else is sent
};

struct Progress {
  Index match = 0;
  Index next = 1;
  ProgressState state = ProgressState::probe;
  bool probe_sent = false;     // probe: an append is outstanding
  std::deque<Index> inflight;  // replicate: the last index of each unacknowledged append
  Index pending_snapshot = 0;  // snapshot: the index of the snapshot sent
  Time snapshot_sent_at{};
  Time last_heard_at{};              // check-quorum: last message from this peer in our term
  std::uint64_t read_seq_acked = 0;  // read-index: highest heartbeat round acknowledged
  bool recovering = false;  // its last message said it lost records and is not caught up yet
  // The highest append_seq echoed by a `recovering` answer: answers without the flag to appends
  // up to it were sent before the loss (Raft::answers_before_loss).
  std::uint64_t recovering_since_seq = 0;

  bool paused(std::size_t max_inflight) const {
    switch (state) {
      case ProgressState::probe:
        return probe_sent;
      case ProgressState::replicate:
        return inflight.size() >= max_inflight;
      case ProgressState::snapshot:
        return true;
    }
    return true;
  }
  void free_up_to(Index index) {
    while (!inflight.empty() && inflight.front() <= index) inflight.pop_front();
  }
  void become_probe() {
    state = ProgressState::probe;
    probe_sent = false;
    inflight.clear();
    next = match + 1;
  }
  void become_replicate() {
    state = ProgressState::replicate;
    probe_sent = false;
    inflight.clear();
    next = match + 1;
  }
};

}  // namespace omni::raft
