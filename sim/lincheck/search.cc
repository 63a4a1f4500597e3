#include "sim/lincheck/search.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include "model/core/assert.h"

namespace omni::lincheck::search {
namespace {

constexpr std::size_t kCacheSlotsFirst = 1024;  // a power of two

std::uint64_t mix(std::uint64_t h) {  // MurmurHash3's finaliser
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

// A set of short vectors of words, each numbered in the order it came. The vectors are kept
// in chunks that never move (a growing vector would copy them all, for a while twice the
// memory); an open-addressing table of (hash, where, number), at most half full, finds them.
class WordVectors {
 public:
  struct Interned {
    std::uint32_t id = 0;
    bool added = false;
  };

  Interned intern(const std::vector<std::uint64_t>& key) {
    OMNI_ASSERT(!key.empty() && key.size() <= std::numeric_limits<std::uint32_t>::max());
    OMNI_ASSERT(size_ < std::numeric_limits<std::uint32_t>::max());
    std::uint64_t hash = key.size();
    for (std::uint64_t word : key) hash = mix(hash ^ word) + 0x9e3779b97f4a7c15ULL;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.length == 0) {
        const auto id = static_cast<std::uint32_t>(size_++);
        slot = Slot{hash, store(key), static_cast<std::uint32_t>(key.size()), id};
        if (size_ * 2 > slots_.size()) grow();
        return {id, true};
      }
      if (slot.hash == hash && slot.length == key.size() &&
          std::equal(key.begin(), key.end(), slot.words))
        return {slot.id, false};
    }
  }

  std::uint64_t size() const { return size_; }
  std::uint64_t words() const { return words_; }  // of all the vectors kept

 private:
  static constexpr std::size_t kChunkWords = std::size_t{1} << 16;

  struct Slot {
    std::uint64_t hash = 0;
    const std::uint64_t* words = nullptr;
    std::uint32_t length = 0;  // 0: empty
    std::uint32_t id = 0;
  };

  const std::uint64_t* store(const std::vector<std::uint64_t>& key) {
    if (chunks_.empty() || chunk_used_ + key.size() > chunk_size_) {
      chunk_size_ = std::max(kChunkWords, key.size());
      chunks_.push_back(std::make_unique<std::uint64_t[]>(chunk_size_));
      chunk_used_ = 0;
    }
    std::uint64_t* words = chunks_.back().get() + chunk_used_;
    std::copy(key.begin(), key.end(), words);
    chunk_used_ += key.size();
    words_ += key.size();
    return words;
  }

  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    std::swap(old, slots_);
    const std::size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.length == 0) continue;
      std::size_t i = slot.hash & mask;
      while (slots_[i].length != 0) i = (i + 1) & mask;
      slots_[i] = slot;
    }
  }

  std::vector<Slot> slots_ = std::vector<Slot>(kCacheSlotsFirst);
  std::vector<std::unique_ptr<std::uint64_t[]>> chunks_;
  std::size_t chunk_size_ = 0;
  std::size_t chunk_used_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t words_ = 0;
};

std::optional<std::uint32_t> apply(const SearchOp& op, std::uint32_t value) {
  switch (op.step) {
    case Step::read:
      return value == op.a ? std::optional(value) : std::nullopt;
    case Step::write:
      return op.a;
    case Step::cas:
      return value == op.a ? std::optional(op.b) : std::nullopt;
    case Step::cas_fail:
      return value != op.a ? std::optional(value) : std::nullopt;
    case Step::cover:
      return std::nullopt;  // only with a fail cas (Searcher::move_for)
  }
  return std::nullopt;
}

// One search. The history is a doubly-linked list of entries in time order: node 2i is op i's
// invoke, node 2i+1 its completion (absent for an op that may never take effect). Placing an
// op ("lifting" it) takes both of its entries out of the list; backtracking puts them back.
// The search succeeds once every op with a completion is placed, and fails when it meets a
// completion with nothing left to undo.
//
// A state is the set of placed ops and the value. The set is kept as a bitset, but remembered
// compactly: every op with a completion below `frontier_` (the first one not placed) is placed,
// so the memo holds the frontier, the number of the set of placed optional ops (they change
// seldom; each distinct set is kept once), and the bits from the frontier's word to the highest
// placed op's word: a few words, not n/64.
class Searcher {
 public:
  Searcher(const std::vector<SearchOp>& ops, std::uint64_t max_states)
      : ops_(ops),
        max_states_(max_states),
        head_(2 * ops.size()),
        tail_(2 * ops.size() + 1),
        next_(2 * ops.size() + 2, 0),
        prev_(2 * ops.size() + 2, 0),
        placed_((ops.size() + 63) / 64, 0),
        optional_index_(ops.size(), kNone) {
    OMNI_ASSERT(ops.size() < (std::size_t{1} << 31), "too many operations on one key");
    link_entries();
    std::size_t optional = 0;
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      if (ops_[i].ret)
        ++unplaced_with_ret_;
      else
        optional_index_[i] = optional++;
      if (ops_[i].step == Step::cover) covers_.push_back(i);
    }
    placed_optional_.assign((optional + 63) / 64 + 1, 0);  // one more: never empty
    optional_set_ = optional_sets_.intern(placed_optional_).id;
    advance_frontier();
  }

  Result run() {
    Result result;
    std::uint64_t furthest = 0;
    std::uint32_t value = 0;
    std::size_t node = next_[head_];
    while (unplaced_with_ret_ > 0) {
      OMNI_ASSERT(node != tail_, "a completion is left, so the walk meets it first");
      const std::size_t i = node / 2;
      if (node % 2 == 0) {  // an invoke: try to place op i here
        if (const auto move = move_for(node, value); move && place(i, *move, value)) {
          if (over_budget()) return done(Outcome::exhausted, result);
          value = move->value;
          node = next_[head_];
        } else {
          node = next_[node];
        }
        continue;
      }
      // A completion: op i cannot be placed before it in this state, so undo the last placement.
      if (*ops_[i].ret >= furthest) {
        furthest = *ops_[i].ret;
        result.stuck = i;
      }
      if (stack_.empty()) return done(Outcome::not_linearizable, result);
      const Frame frame = stack_.back();
      stack_.pop_back();
      unplace(frame);
      value = frame.value;
      node = next_[2 * frame.op];
    }
    return done(Outcome::linearizable, result);
  }

 private:
  static constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  static constexpr std::uint32_t kNoCover = std::numeric_limits<std::uint32_t>::max();

  struct Move {
    std::uint32_t value = 0;         // after the op
    std::uint32_t cover = kNoCover;  // placed right before it
  };

  struct Frame {  // what placing op (and cover) changed
    std::uint32_t op = 0;
    std::uint32_t cover = kNoCover;
    std::uint32_t value = 0;  // before them
    std::uint32_t frontier = 0;
    std::uint32_t optional_set = 0;
    std::int64_t highest = -1;
  };

  Result done(Outcome outcome, Result result) const {
    result.outcome = outcome;
    result.states = states_.size();
    return result;
  }

  void link_entries() {
    std::vector<std::pair<std::uint64_t, std::size_t>> entries;  // (position, node)
    for (std::size_t i = 0; i < ops_.size(); ++i) {
      OMNI_ASSERT(i == 0 || ops_[i].call > ops_[i - 1].call, "ops must be in invoke order");
      OMNI_ASSERT(ops_[i].step != Step::cover || !ops_[i].ret);
      entries.emplace_back(ops_[i].call, 2 * i);
      if (ops_[i].ret) {
        OMNI_ASSERT(*ops_[i].ret > ops_[i].call);
        entries.emplace_back(*ops_[i].ret, 2 * i + 1);
      }
    }
    std::sort(entries.begin(), entries.end());
    std::size_t last = head_;
    for (const auto& entry : entries) {
      next_[last] = entry.second;
      prev_[entry.second] = last;
      last = entry.second;
    }
    next_[last] = tail_;
    prev_[tail_] = last;
  }

  // How the op invoked at `node` can be placed now, if it can: a fail cas that would see its
  // expected value takes the earliest unused cover, when that one may be placed now too (it
  // was invoked before the first completion still in the list).
  std::optional<Move> move_for(std::size_t node, std::uint32_t value) const {
    const SearchOp& op = ops_[node / 2];
    if (const auto after = apply(op, value)) return Move{*after, kNoCover};
    if (op.step != Step::cas_fail || covers_used_ == covers_.size()) return std::nullopt;
    const std::size_t cover = covers_[covers_used_];
    std::size_t first_completion = node;
    while (first_completion != tail_ && first_completion % 2 == 0)
      first_completion = next_[first_completion];
    if (first_completion != tail_ && ops_[cover].call > *ops_[first_completion / 2].ret)
      return std::nullopt;
    return Move{kJunk, static_cast<std::uint32_t>(cover)};
  }

  bool is_placed(std::size_t i) const { return (placed_[i / 64] >> (i % 64)) & 1; }

  void flip(std::size_t i) {
    placed_[i / 64] ^= std::uint64_t{1} << (i % 64);
    if (const std::size_t k = optional_index_[i]; k != kNone)
      placed_optional_[k / 64] ^= std::uint64_t{1} << (k % 64);
  }

  void advance_frontier() {
    while (frontier_ < ops_.size() && (!ops_[frontier_].ret || is_placed(frontier_))) ++frontier_;
  }

  // Places op i (after its cover, if any) unless that state was visited already.
  bool place(std::size_t i, const Move& move, std::uint32_t value_before) {
    const Frame frame{static_cast<std::uint32_t>(i),         move.cover,    value_before,
                      static_cast<std::uint32_t>(frontier_), optional_set_, highest_};
    flip(i);
    highest_ = std::max(highest_, static_cast<std::int64_t>(i));
    if (move.cover != kNoCover) {
      flip(move.cover);
      highest_ = std::max(highest_, static_cast<std::int64_t>(move.cover));
    }
    if (i == frontier_) advance_frontier();
    if (!ops_[i].ret || move.cover != kNoCover)
      optional_set_ = optional_sets_.intern(placed_optional_).id;
    if (!states_.intern(state_key(move.value)).added) {
      flip(i);
      if (move.cover != kNoCover) flip(move.cover);
      restore(frame);
      return false;
    }
    stack_.push_back(frame);
    if (move.cover != kNoCover) {
      OMNI_ASSERT(move.cover == covers_[covers_used_]);
      lift(move.cover);
      ++covers_used_;
    }
    lift(i);
    if (ops_[i].ret) --unplaced_with_ret_;
    return true;
  }

  void unplace(const Frame& frame) {
    const std::size_t i = frame.op;
    OMNI_ASSERT(is_placed(i));
    flip(i);
    unlift(i);
    if (frame.cover != kNoCover) {
      flip(frame.cover);
      unlift(frame.cover);
      --covers_used_;
      OMNI_ASSERT(frame.cover == covers_[covers_used_]);
    }
    restore(frame);
    if (ops_[i].ret) ++unplaced_with_ret_;
  }

  void restore(const Frame& frame) {
    frontier_ = frame.frontier;
    optional_set_ = frame.optional_set;
    highest_ = frame.highest;
  }

  // The budget counts memory as well as states: a state's key is a few words, but while one op
  // stays unplaced (a read pending while thousands of writes complete) each key holds the
  // bits from it to the newest op, n/64 words, and n states hold n^2/64.
  bool over_budget() const {
    return states_.size() > max_states_ || states_.words() > max_states_ * kKeyWordsPerState;
  }

  const std::vector<std::uint64_t>& state_key(std::uint32_t value) {
    key_.clear();
    key_.push_back((static_cast<std::uint64_t>(frontier_) << 32) | value);
    key_.push_back(optional_set_);
    if (highest_ >= 0) {
      for (std::size_t w = frontier_ / 64; w <= static_cast<std::size_t>(highest_) / 64; ++w)
        key_.push_back(placed_[w]);
    }
    return key_;
  }

  void unlink(std::size_t node) {
    next_[prev_[node]] = next_[node];
    prev_[next_[node]] = prev_[node];
  }
  void relink(std::size_t node) {  // undoes unlink(node) when undone in reverse order
    next_[prev_[node]] = node;
    prev_[next_[node]] = node;
  }
  void lift(std::size_t i) {
    unlink(2 * i);
    if (ops_[i].ret) unlink(2 * i + 1);
  }
  void unlift(std::size_t i) {
    if (ops_[i].ret) relink(2 * i + 1);
    relink(2 * i);
  }

  const std::vector<SearchOp>& ops_;
  static constexpr std::uint64_t kKeyWordsPerState = 8;  // a state's share of key memory
  const std::uint64_t max_states_;
  const std::size_t head_;
  const std::size_t tail_;
  std::vector<std::size_t> next_;
  std::vector<std::size_t> prev_;
  std::vector<std::uint64_t> placed_;
  std::vector<std::size_t> optional_index_;  // kNone for an op with a completion
  std::vector<std::uint64_t> placed_optional_;
  WordVectors optional_sets_;
  std::uint32_t optional_set_ = 0;   // the number of placed_optional_ in optional_sets_
  std::vector<std::size_t> covers_;  // in invoke order; the first covers_used_ are placed
  std::size_t covers_used_ = 0;
  std::size_t unplaced_with_ret_ = 0;
  std::size_t frontier_ = 0;   // the first op with a completion that is not placed
  std::int64_t highest_ = -1;  // the highest placed op
  std::vector<Frame> stack_;
  WordVectors states_;
  std::vector<std::uint64_t> key_;
};

}  // namespace

Result search(const std::vector<SearchOp>& ops, std::uint64_t max_states) {
  return Searcher(ops, max_states).run();
}

}  // namespace omni::lincheck::search
