#include "sim/lincheck/simplify.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "model/core/assert.h"

namespace omni::lincheck::search {
namespace {

bool writes(const SearchOp& op) {
  return op.step == Step::write || op.step == Step::cas;
}
std::uint32_t written(const SearchOp& op) {
  return op.step == Step::write ? op.a : op.b;
}

// The operations with a completion that change the register for certain (ok writes and cas),
// in invoke order, with the earliest completion from each one on.
class CertainWrites {
 public:
  CertainWrites(const std::vector<SearchOp>& ops, const std::vector<bool>& gone) {
    for (std::size_t i = 0; i < ops.size(); ++i)
      if (!gone[i] && ops[i].ret && writes(ops[i])) writes_.push_back(&ops[i]);
    first_done_.resize(writes_.size());
    for (std::size_t i = writes_.size(); i-- > 0;) {
      const bool later_is_sooner =
          i + 1 < writes_.size() && *writes_[first_done_[i + 1]]->ret < *writes_[i]->ret;
      first_done_[i] = later_is_sooner ? first_done_[i + 1] : i;
    }
  }

  static constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();

  // By when, for certain, one of them invoked after `after` (or any time, when absent) has
  // written something other than `value`: the completion of the soonest completed of them,
  // or kNever when there is none or it writes `value` (then it is not sure, so: never).
  std::uint64_t overwritten_by(std::optional<std::uint64_t> after, std::uint32_t value) const {
    const auto from =
        !after ? writes_.begin()
               : std::upper_bound(writes_.begin(), writes_.end(), *after,
                                  [](std::uint64_t t, const SearchOp* op) { return t < op->call; });
    if (from == writes_.end()) return kNever;
    const SearchOp* soonest = writes_[first_done_[from - writes_.begin()]];
    return written(*soonest) != value ? *soonest->ret : kNever;
  }

  // Whether `value` is overwritten for certain, as above, before `before`.
  bool overwrite_between(std::optional<std::uint64_t> after, std::uint64_t before,
                         std::uint32_t value) const {
    return overwritten_by(after, value) < before;
  }

 private:
  std::vector<const SearchOp*> writes_;
  std::vector<std::size_t> first_done_;  // index in writes_ of the earliest completion from i on
};

// When op w, which may write `value`, is done, as far as the strict operations show: at its
// completion; or, for an optional op that is the only one that may write the value (null is
// also there from the start), before the first strict read or cas that sees the value
// completes. Absent: it may write the value at any time.
std::optional<std::uint64_t> written_by(const std::vector<SearchOp>& ops,
                                        const std::vector<std::size_t>& writers,
                                        std::optional<std::uint64_t> first_seen_done,
                                        std::uint32_t value, std::size_t w) {
  if (ops[w].ret) return ops[w].ret;
  if (value != 0 && writers.size() == 1) return first_seen_done;
  return std::nullopt;
}

// For one value, its writers in invoke order with, for each prefix of them, the latest time
// until which one of them may still have the value in the register (kNever when one of them
// may write it at any time). A fail cas sees the writers invoked before it completes: a prefix.
class ValueHeld {
 public:
  ValueHeld(const std::vector<SearchOp>& ops, const std::vector<std::size_t>& writers,
            std::optional<std::uint64_t> first_seen_done, std::uint32_t value,
            const CertainWrites& certain) {
    calls_.reserve(writers.size());
    held_until_.reserve(writers.size());
    for (std::size_t w : writers) {
      const auto done = written_by(ops, writers, first_seen_done, value, w);
      const std::uint64_t until =
          done ? certain.overwritten_by(*done, value) : CertainWrites::kNever;
      calls_.push_back(ops[w].call);
      held_until_.push_back(held_until_.empty() ? until : std::max(held_until_.back(), until));
    }
    OMNI_ASSERT(std::is_sorted(calls_.begin(), calls_.end()), "writers are in invoke order");
  }

  // Whether a writer invoked by `invoked_by` may leave the value in the register at `at`.
  bool may_hold_at(std::uint64_t invoked_by, std::uint64_t at) const {
    const auto prefix = static_cast<std::size_t>(
        std::upper_bound(calls_.begin(), calls_.end(), invoked_by) - calls_.begin());
    OMNI_ASSERT(prefix <= held_until_.size());
    return prefix > 0 && held_until_[prefix - 1] >= at;
  }

 private:
  std::vector<std::uint64_t> calls_;
  std::vector<std::uint64_t> held_until_;
};

// A fail cas whose expected value the register cannot hold during its interval. Linear in the
// operations but for a binary search each: K fail cas of a value written by K writers used to
// try every writer for each (K^2).
bool drop_trivial_cas_fails(const std::vector<SearchOp>& ops, std::vector<bool>& gone,
                            std::size_t values) {
  std::vector<std::vector<std::size_t>> writers(values);
  std::vector<std::optional<std::uint64_t>> first_seen_done(values);  // by a strict read or cas
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (gone[i]) continue;
    if (writes(ops[i])) writers[written(ops[i])].push_back(i);
    if (ops[i].ret && (ops[i].step == Step::read || ops[i].step == Step::cas)) {
      auto& done = first_seen_done[ops[i].a];
      done = std::min(done.value_or(*ops[i].ret), *ops[i].ret);
    }
  }
  const CertainWrites certain(ops, gone);
  std::vector<std::optional<ValueHeld>> held(values);
  bool changed = false;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const SearchOp& x = ops[i];
    if (gone[i] || x.step != Step::cas_fail) continue;
    // The first value, null, is there from the start until a certain write.
    if (x.a == 0 && !certain.overwrite_between(std::nullopt, x.call, 0)) continue;
    if (!held[x.a]) held[x.a].emplace(ops, writers[x.a], first_seen_done[x.a], x.a, certain);
    // A writer invoked after the fail cas completed is after it for certain.
    if (!held[x.a]->may_hold_at(*x.ret, x.call)) gone[i] = changed = true;
  }
  return changed;
}

// Values that a read or a cas needs to see, and values that a fail cas expects.
struct Needs {
  std::vector<bool> seen;
  std::vector<bool> expected;
  std::size_t cas_fails = 0;
};

Needs needs_of(const std::vector<SearchOp>& ops, const std::vector<bool>& gone,
               std::size_t values) {
  Needs needs{std::vector<bool>(values, false), std::vector<bool>(values, false), 0};
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (gone[i] || ops[i].step == Step::write) continue;
    if (ops[i].step == Step::cas_fail) {
      needs.expected[ops[i].a] = true;
      ++needs.cas_fails;
    } else {
      needs.seen[ops[i].a] = true;
    }
  }
  return needs;
}

bool is_cover(const SearchOp& op, const Needs& needs) {
  return !op.ret && op.step == Step::write && !needs.seen[op.a] && !needs.expected[op.a];
}

// Optional writes and cas of values no read and no cas needs to see: all but the covers the
// fail cas may need.
bool drop_unseen_writes(const std::vector<SearchOp>& ops, std::vector<bool>& gone,
                        std::size_t values) {
  const Needs needs = needs_of(ops, gone, values);
  std::size_t covers = 0;  // invoked so far
  bool changed = false;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (gone[i] || ops[i].ret || !writes(ops[i]) || needs.seen[written(ops[i])]) continue;
    if (covers >= needs.cas_fails) gone[i] = changed = true;
    if (is_cover(ops[i], needs)) ++covers;
  }
  return changed;
}

}  // namespace

void simplify(std::vector<SearchOp>& ops, std::vector<std::size_t>& origin, std::size_t values) {
  OMNI_ASSERT(origin.size() == ops.size() && values < kJunk);
  for (std::size_t i = 1; i < ops.size(); ++i)
    OMNI_ASSERT(ops[i].call > ops[i - 1].call, "ops must be in invoke order");
  std::vector<bool> gone(ops.size(), false);
  for (bool changed = true; changed;) {
    changed = drop_trivial_cas_fails(ops, gone, values);
    changed = drop_unseen_writes(ops, gone, values) || changed;
  }
  const Needs needs = needs_of(ops, gone, values);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (gone[i]) continue;
    ops[kept] = ops[i];
    if (is_cover(ops[i], needs)) ops[kept] = SearchOp{Step::cover, 0, 0, ops[i].call, std::nullopt};
    origin[kept] = origin[i];
    ++kept;
  }
  ops.resize(kept);
  origin.resize(kept);
}

}  // namespace omni::lincheck::search
