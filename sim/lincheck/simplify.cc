#include "sim/lincheck/simplify.h"

#include <algorithm>
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

  // Whether one of them, writing something other than `value`, is invoked after `after` (or
  // any time, when absent) and completed before `before`.
  bool overwrite_between(std::optional<std::uint64_t> after, std::uint64_t before,
                         std::uint32_t value) const {
    const auto from =
        !after ? writes_.begin()
               : std::upper_bound(writes_.begin(), writes_.end(), *after,
                                  [](std::uint64_t t, const SearchOp* op) { return t < op->call; });
    if (from == writes_.end()) return false;
    const SearchOp* soonest = writes_[first_done_[from - writes_.begin()]];
    return *soonest->ret < before && written(*soonest) != value;  // else: not sure, say no
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

// A fail cas whose expected value the register cannot hold during its interval.
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
  bool changed = false;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const SearchOp& x = ops[i];
    if (gone[i] || x.step != Step::cas_fail) continue;
    // The first value, null, is there from the start until a certain write.
    bool may_hold = x.a == 0 && !certain.overwrite_between(std::nullopt, x.call, 0);
    for (std::size_t w : writers[x.a]) {
      if (may_hold) break;
      if (ops[w].call > *x.ret) continue;  // after the fail cas, for certain
      const auto done = written_by(ops, writers[x.a], first_seen_done[x.a], x.a, w);
      may_hold = !done || !certain.overwrite_between(*done, x.call, x.a);
    }
    if (!may_hold) gone[i] = changed = true;
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
