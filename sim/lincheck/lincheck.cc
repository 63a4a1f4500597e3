#include "sim/lincheck/lincheck.h"

#include <algorithm>
#include <map>
#include <optional>

#include "model/core/assert.h"
#include "sim/lincheck/search.h"
#include "sim/lincheck/simplify.h"

namespace omni::lincheck {
namespace {

using search::Outcome;
using search::SearchOp;
using search::Step;

// Checks a shrinking window may run, in all, besides its state budget.
constexpr std::size_t kWindowChecksMax = 20'000;

// The operations on one key, and its values as small integers (null is 0).
struct Register {
  std::optional<std::string> key;
  std::vector<const Operation*> ops;  // invoke order
  std::map<Value, std::uint32_t> ids;

  std::uint32_t id(const Value& value) {
    return ids.emplace(value, static_cast<std::uint32_t>(ids.size())).first->second;
  }
  std::uint32_t id(const Value& value) const { return ids.at(value); }
};

std::vector<Register> registers_of(const std::vector<Operation>& operations) {
  std::vector<Register> registers;
  std::map<std::optional<std::string>, std::size_t> index;
  for (const Operation& op : operations) {
    const auto [it, added] = index.emplace(op.key, registers.size());
    if (added) {
      registers.push_back(Register{op.key, {}, {}});
      registers.back().id(Value{});
    }
    Register& r = registers[it->second];
    r.ops.push_back(&op);
    r.id(op.value);
    r.id(op.expected);
    r.id(op.desired);
  }
  return registers;
}

// How an operation takes part in a search.
enum class Part : std::uint8_t {
  strict,   // as recorded
  relaxed,  // a read: left out; a write or cas (whatever its result): writes its new value at
            // any time, or never. Every order of the strict op is one of the relaxed op's.
};

// The search's view of a register's operations: ok ones as recorded; a fail cas as a
// comparison that saw another value; fail reads and writes left out (they did not happen);
// info ones as taking effect at any time after their invoke, or never. A read that may never
// have happened constrains nothing, so it is left out too.
struct Prepared {
  std::vector<SearchOp> ops;        // in invoke order, relaxed ones first
  std::vector<std::size_t> origin;  // index in Register::ops
};

std::optional<SearchOp> search_op(const Register& r, std::size_t j, Part part) {
  const Operation& op = *r.ops[j];
  SearchOp s;
  if (part == Part::relaxed) {  // any write or cas: its new value at any time, or never
    if (op.f == Function::read) return std::nullopt;
    s.step = Step::write;
    s.a = r.id(op.f == Function::cas ? op.desired : op.value);
    s.call = j;  // before the whole history
    return s;
  }
  const bool info = op.result == EventType::info || !op.complete_index;
  if (!info && op.result == EventType::fail && op.f != Function::cas) return std::nullopt;
  const std::size_t history_start = r.ops.size();
  s.call = history_start + op.invoke_index;
  if (!info) s.ret = history_start + *op.complete_index;
  switch (op.f) {
    case Function::read:
      if (info) return std::nullopt;
      s.step = Step::read;
      s.a = r.id(op.value);
      break;
    case Function::write:
      s.step = Step::write;
      s.a = r.id(op.value);
      break;
    case Function::cas:
      s.step = !info && op.result == EventType::fail ? Step::cas_fail : Step::cas;
      s.a = r.id(op.expected);
      s.b = r.id(op.desired);
      break;
  }
  return s;
}

Prepared prepare(const Register& r, const std::vector<Part>& parts) {
  std::vector<std::pair<SearchOp, std::size_t>> ops;
  for (std::size_t j = 0; j < r.ops.size(); ++j)
    if (const auto s = search_op(r, j, parts[j])) ops.emplace_back(*s, j);
  std::stable_sort(ops.begin(), ops.end(),
                   [](const auto& a, const auto& b) { return a.first.call < b.first.call; });
  Prepared p;
  for (const auto& [op, origin] : ops) {
    p.ops.push_back(op);
    p.origin.push_back(origin);
  }
  search::simplify(p.ops, p.origin, r.ids.size());
  return p;
}

struct KeyResult {
  search::Result result;
  std::size_t stuck = 0;  // index in Register::ops; when not linearizable, or exhausted
};

KeyResult check_register(const Register& r, const std::vector<Part>& parts,
                         std::uint64_t max_states) {
  const Prepared p = prepare(r, parts);
  KeyResult k{search::search(p.ops, max_states), 0};
  if (k.result.outcome != Outcome::linearizable) k.stuck = p.origin[k.result.stuck];
  return k;
}

// Finds a window of a key that is not linearizable: operations that cannot be ordered even
// with every other operation of the key relaxed (see Part), each of them needed. Such a window
// proves the key is not linearizable (relaxing operations only allows more orders), so it is
// also looked for when the key's search ran out of states. First it grows a window around the
// operation the search got stuck at (those within 1, 2, 4, ... of it in invoke order) until
// the window fails. Then it relaxes chunks of the window, the farthest from the stuck
// operation first, halving the chunk, then single operations until none can go. Bounded: each
// check may spend a tenth of the budget of states (an operation whose check runs out stays
// in, and the window is not called minimal), the window at most kWindowChecksMax checks.
class WindowShrinker {
 public:
  WindowShrinker(const Register& r, const Limits& limits)
      : r_(r),
        budget_(limits.max_window_states),
        check_states_max_(std::max<std::uint64_t>(1, limits.max_window_states / 10)) {}

  // known_failing: the whole key, as recorded, cannot be ordered. Nullopt when no window was
  // found (only when not known_failing).
  std::optional<std::vector<std::size_t>> find(std::size_t stuck, bool known_failing) {
    std::optional<std::vector<std::size_t>> window = grow(stuck, known_failing);
    if (!window) return std::nullopt;
    // Farthest from the stuck operation first: relaxed first, in the largest chunks.
    const auto distance = [stuck](std::size_t j) { return j > stuck ? j - stuck : stuck - j; };
    std::stable_sort(window->begin(), window->end(), [&distance](std::size_t a, std::size_t b) {
      return distance(a) > distance(b);
    });
    for (std::size_t chunk = window->size() / 2; chunk >= 2 && minimal_; chunk /= 2) {
      for (std::size_t start = 0; start < window->size() && minimal_;)
        start += relax(*window, start, chunk) ? 0 : chunk;
    }
    for (bool changed = minimal_; changed;) {
      const std::size_t before = window->size();
      for (std::size_t i = 0; i < window->size() && minimal_;) i += relax(*window, i, 1) ? 0 : 1;
      changed = minimal_ && window->size() < before;
    }
    std::sort(window->begin(), window->end());
    return window;
  }

  // False when a check ran out of states or the budget ran out: the window still cannot be
  // ordered, but one of its operations might not be needed.
  bool minimal() const { return minimal_; }

 private:
  std::optional<std::vector<std::size_t>> grow(std::size_t stuck, bool known_failing) {
    const std::size_t n = r_.ops.size();
    for (std::size_t reach = 1; reach < n && minimal_; reach *= 2) {
      std::vector<std::size_t> window;
      for (std::size_t j = stuck - std::min(stuck, reach); j < std::min(n, stuck + reach + 1); ++j)
        window.push_back(j);
      if (fails(window)) return window;
    }
    if (!known_failing) return std::nullopt;
    std::vector<std::size_t> all(n);
    for (std::size_t j = 0; j < n; ++j) all[j] = j;
    return all;
  }

  // Takes window[start, start + count) out when the window still fails without them.
  bool relax(std::vector<std::size_t>& window, std::size_t start, std::size_t count) {
    const auto end =
        window.begin() + static_cast<std::ptrdiff_t>(std::min(window.size(), start + count));
    std::vector<std::size_t> rest(window.begin(),
                                  window.begin() + static_cast<std::ptrdiff_t>(start));
    rest.insert(rest.end(), end, window.end());
    if (!fails(rest)) return false;
    window = std::move(rest);
    return true;
  }

  // Whether `window` cannot be ordered with every other operation relaxed. False also when
  // the check or the budget runs out (then the window is not called minimal).
  bool fails(const std::vector<std::size_t>& window) {
    if (budget_ == 0 || checks_ == kWindowChecksMax) {
      minimal_ = false;
      return false;
    }
    ++checks_;
    std::vector<Part> parts(r_.ops.size(), Part::relaxed);
    for (std::size_t j : window) parts[j] = Part::strict;
    const KeyResult k = check_register(r_, parts, std::min(budget_, check_states_max_));
    budget_ -= std::min(budget_, k.result.states);
    if (k.result.outcome == Outcome::exhausted) minimal_ = false;
    return k.result.outcome == Outcome::not_linearizable;
  }

  const Register& r_;
  std::uint64_t budget_;
  const std::uint64_t check_states_max_;
  std::size_t checks_ = 0;
  bool minimal_ = true;
};

std::string key_name(const std::optional<std::string>& key) {
  return key ? "key " + value_text(Value{*key}) : "the register without a key";
}

// A read of a value that nothing on the key wrote, or may have, before the read completed.
bool reads_unwritten_value(const Register& r, const Operation& read) {
  if (read.f != Function::read || read.result != EventType::ok ||
      std::holds_alternative<std::monostate>(read.value))
    return false;
  return std::none_of(r.ops.begin(), r.ops.end(), [&read](const Operation* op) {
    const bool may_have_written = !op->complete_index || op->result != EventType::fail;
    const Value& written = op->f == Function::cas ? op->desired : op->value;
    return op->f != Function::read && may_have_written && written == read.value &&
           op->invoke_index < *read.complete_index;
  });
}

std::string window_report(const Register& r, const Verdict& v) {
  std::size_t process_width = 0;
  std::size_t call_width = 0;
  std::size_t result_width = 0;
  for (const Operation& op : v.window) {
    process_width = std::max(process_width, std::to_string(op.process).size());
    call_width = std::max(call_width, call_text(op).size());
    result_width = std::max(result_width, result_text(op).size());
  }
  const auto padded = [](std::string text, std::size_t width) {
    text.resize(std::max(width, text.size()), ' ');
    return text;
  };
  std::string report = "not linearizable: " + key_name(r.key) + "\n" +
                       std::to_string(v.window.size()) + " of its " + std::to_string(r.ops.size()) +
                       " operations cannot be ordered:\n";
  for (const Operation& op : v.window) {
    report += "  process " + padded(std::to_string(op.process), process_width) + "  " +
              padded(call_text(op), call_width) + "  " + padded(result_text(op), result_width) +
              "  " + position_text(op) + "\n";
  }
  report +=
      "no order of these, each taking effect between its invoke and its completion (info: at "
      "any time after its invoke, or never), gives each its result, even if the key's other "
      "operations took effect at any time, or never; each one listed is needed";
  for (const Operation& op : v.window) {
    if (!reads_unwritten_value(r, op)) continue;
    report += "\n";
    report += call_text(op) + " (" + position_text(op) +
              "): nothing that took effect, or may have, writes " + value_text(op.value) +
              " before it completed";
  }
  if (!v.window_minimal)
    report += "\n(the window may not be minimal: shrinking it ran out of its budget)";
  return report;
}

}  // namespace

std::string summary_line(const Verdict& verdict) {
  return "linearizable: " + std::to_string(verdict.operations) + " operations on " +
         std::to_string(verdict.keys) + (verdict.keys == 1 ? " key" : " keys") + " (" +
         std::to_string(verdict.states_explored) + " states explored)";
}

Verdict check_history(const std::vector<Event>& events, const Limits& limits) {
  HistoryValidator validator;
  for (const Event& e : events) {
    const std::string error = validator.add(e);
    OMNI_ASSERT(error.empty(), "malformed history: " + error);
  }
  const std::vector<Operation> operations = match_operations(events);
  const std::vector<Register> registers = registers_of(operations);
  Verdict v;
  v.operations = operations.size();
  v.keys = registers.size();
  const std::uint64_t total =
      limits.max_total_states > 0 ? limits.max_total_states : 10 * limits.max_states;
  for (const Register& r : registers) {
    const std::uint64_t left = total - std::min(total, v.states_explored);
    const std::uint64_t budget = std::min(limits.max_states, left);
    const KeyResult k = check_register(r, std::vector<Part>(r.ops.size(), Part::strict), budget);
    v.states_explored += k.result.states;
    if (k.result.outcome == Outcome::linearizable) continue;
    v.linearizable = false;
    v.key = r.key.value_or("");
    const bool known_failing = k.result.outcome == Outcome::not_linearizable;
    WindowShrinker shrinker(r, limits);
    const auto window = shrinker.find(k.stuck, known_failing);
    if (!window) {
      v.exhausted = true;
      const std::string bound =
          budget < limits.max_states
              ? std::to_string(total) + " states in all (the keys before it used " +
                    std::to_string(v.states_explored - k.result.states) + ")"
              : std::to_string(limits.max_states) + " states (or the memory of their keys)";
      v.report = "history too hard to check within " + bound + ": " + key_name(r.key) + " (" +
                 std::to_string(r.ops.size()) + " operations) needs more; no verdict";
      return v;
    }
    for (std::size_t j : *window) v.window.push_back(*r.ops[j]);
    v.window_minimal = shrinker.minimal();
    v.report = window_report(r, v);
    OMNI_ASSERT(!v.window.empty());
    return v;
  }
  v.report = summary_line(v);
  OMNI_ASSERT(v.linearizable && !v.exhausted && v.window.empty());
  return v;
}

}  // namespace omni::lincheck
