// Properties of the linearizability checker:
// - on small random histories (linearizable or not) it agrees with a brute force that tries
//   every order, and its window holds what it claims (it cannot be ordered even with every
//   other operation relaxed; relaxing any one of it makes an order possible);
// - a history made from a sequential run of registers, with operations stretched around their
//   instants so they overlap, and clients giving up (info, no completion), always passes,
//   written out and parsed back too;
// - changing one ok read of such a history to a value nobody wrote, or to a value already
//   overwritten, always fails, and the window names that key.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "sim/lincheck/generate.h"
#include "sim/lincheck/lincheck.h"

namespace omni::lincheck {
namespace {

// ---- The brute force: HISTORY.md's semantics, restated without the checker's code. ----

struct Item {
  enum class Kind { read, write, cas, cas_fail } kind = Kind::read;
  Value a, b;
  std::int64_t call = 0;            // -1: at any time
  std::optional<std::int64_t> ret;  // absent: may take effect after its call, or never
};

// The items of ops: ok as recorded; fail cas compared and saw another value; fail reads and
// writes, info reads left out; info writes and cas optional after their invoke; relaxed ones
// (indexes in `relaxed`): reads left out, writes and cas writing their new value at any time,
// or never.
std::vector<Item> items_of(const std::vector<Operation>& ops,
                           const std::set<std::size_t>& relaxed) {
  std::vector<Item> items;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Operation& op = ops[i];
    const bool info = op.result == EventType::info || !op.complete_index;
    Item item;
    item.call = static_cast<std::int64_t>(op.invoke_index);
    if (relaxed.contains(i)) {
      if (op.f == Function::read) continue;
      item.kind = Item::Kind::write;
      item.a = op.f == Function::cas ? op.desired : op.value;
      item.call = -1;
      items.push_back(item);
      continue;
    }
    if (op.f != Function::cas && (op.result == EventType::fail || (info && op.f == Function::read)))
      continue;
    if (!info) item.ret = static_cast<std::int64_t>(*op.complete_index);
    if (op.f == Function::read) {
      item.kind = Item::Kind::read;
      item.a = op.value;
    } else if (op.f == Function::write) {
      item.kind = Item::Kind::write;
      item.a = op.value;
    } else {
      item.kind = !info && op.result == EventType::fail ? Item::Kind::cas_fail : Item::Kind::cas;
      item.a = op.expected;
      item.b = op.desired;
    }
    items.push_back(item);
  }
  return items;
}

bool valid_order(const std::vector<const Item*>& order) {
  for (std::size_t i = 0; i < order.size(); ++i)
    for (std::size_t j = i + 1; j < order.size(); ++j)
      if (order[j]->ret && *order[j]->ret < order[i]->call) return false;  // j was over first
  Value value;
  for (const Item* item : order) {
    switch (item->kind) {
      case Item::Kind::read:
        if (value != item->a) return false;
        break;
      case Item::Kind::write:
        value = item->a;
        break;
      case Item::Kind::cas:
        if (value != item->a) return false;
        value = item->b;
        break;
      case Item::Kind::cas_fail:
        if (value == item->a) return false;
        break;
    }
  }
  return true;
}

// Every subset of the optional items with all the others, in every order.
bool brute_force_linearizable(const std::vector<Item>& items) {
  std::vector<std::size_t> optional;
  for (std::size_t i = 0; i < items.size(); ++i)
    if (!items[i].ret) optional.push_back(i);
  for (std::uint32_t mask = 0; mask < (1u << optional.size()); ++mask) {
    std::vector<const Item*> chosen;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto at = std::find(optional.begin(), optional.end(), i);
      if (at == optional.end() || (mask >> (at - optional.begin())) & 1)
        chosen.push_back(&items[i]);
    }
    std::sort(chosen.begin(), chosen.end());
    do {
      if (valid_order(chosen)) return true;
    } while (std::next_permutation(chosen.begin(), chosen.end()));
  }
  return false;
}

// ---- Small random histories of one register, linearizable or not. ----

Value small_value(bool null_allowed) {
  const int v = *rc::gen::inRange(null_allowed ? 0 : 1, 3);
  return v == 0 ? Value{} : Value{std::int64_t{v}};
}

std::vector<Event> small_history() {
  const int n = *rc::gen::inRange(1, 7);
  std::vector<int> order;  // each operation twice: its invoke, then its completion
  for (int i = 0; i < n; ++i) order.insert(order.end(), {i, i});
  for (std::size_t i = order.size(); i > 1; --i)
    std::swap(order[i - 1], order[*rc::gen::inRange<std::size_t>(0, i)]);
  std::vector<Event> invokes(n), completions(n);
  std::vector<bool> completes(n);
  for (int i = 0; i < n; ++i) {
    Event& e = invokes[i];
    e.process = i;
    e.f = *rc::gen::element(Function::read, Function::write, Function::cas);
    if (e.f == Function::write) e.value = small_value(false);
    if (e.f == Function::cas) {
      e.expected = small_value(true);
      e.desired = small_value(false);
    }
    completions[i] = e;
    completions[i].type = *rc::gen::element(EventType::ok, EventType::fail, EventType::info);
    if (e.f == Function::read && completions[i].type == EventType::ok)
      completions[i].value = small_value(true);
    completes[i] = *rc::gen::inRange(0, 4) != 0;
  }
  std::vector<Event> events;
  std::vector<bool> invoked(n);
  for (int i : order) {
    if (!invoked[i]) {
      invoked[i] = true;
      events.push_back(invokes[i]);
    } else if (completes[i]) {
      events.push_back(completions[i]);
    }
  }
  return events;
}

std::string text_of(const std::vector<Event>& events) {
  std::string text;
  for (const Event& e : events) text += to_json_line(e) + "\n";
  return text;
}

RC_GTEST_PROP(LincheckProps, AgreesWithTheBruteForceAndItsWindowHoldsWhatItClaims, ()) {
  const std::vector<Event> events = small_history();
  RC_LOG() << text_of(events);
  const std::vector<Operation> ops = match_operations(events);
  const Verdict v = check_history(events);
  RC_ASSERT(!v.exhausted);
  RC_ASSERT(v.linearizable == brute_force_linearizable(items_of(ops, {})));
  RC_TAG(v.linearizable ? "linearizable" : "not linearizable");
  if (v.linearizable) return;
  RC_LOG() << v.report << "\n";
  RC_ASSERT(v.window_minimal);
  std::set<std::size_t> window;
  for (const Operation& op : v.window) {
    const auto at = std::find_if(ops.begin(), ops.end(), [&op](const Operation& o) {
      return o.invoke_index == op.invoke_index;
    });
    window.insert(static_cast<std::size_t>(at - ops.begin()));
  }
  std::set<std::size_t> others;
  for (std::size_t i = 0; i < ops.size(); ++i)
    if (!window.contains(i)) others.insert(i);
  RC_ASSERT(!brute_force_linearizable(items_of(ops, others)));
  for (std::size_t needed : window) {
    std::set<std::size_t> relaxed = others;
    relaxed.insert(needed);
    RC_ASSERT(brute_force_linearizable(items_of(ops, relaxed)));
  }
}

// ---- Histories from sequential runs. ----

GenerateOptions random_options() {
  GenerateOptions o;
  o.operations = *rc::gen::inRange<std::size_t>(1, 150);
  o.keys = *rc::gen::inRange<std::size_t>(1, 4);
  o.processes = *rc::gen::inRange<std::size_t>(1, 7);
  o.info_percent = *rc::gen::inRange<std::uint32_t>(0, 31);
  o.fail_percent = *rc::gen::inRange<std::uint32_t>(0, 11);
  o.overlap = *rc::gen::inRange<std::uint32_t>(0, 6);
  return o;
}

std::vector<Event> generated(const GenerateOptions& options) {
  return generate_history(
      options, [](std::uint64_t bound) { return *rc::gen::inRange<std::uint64_t>(0, bound); });
}

RC_GTEST_PROP(LincheckProps, ASequentialRunStretchedIntoOverlapsIsLinearizable, ()) {
  const std::vector<Event> events = generated(random_options());
  const std::string text = text_of(events);
  RC_LOG() << text;
  const Verdict v = check_history(events);
  RC_ASSERT(v.linearizable);
  RC_ASSERT(!v.exhausted);
  const ParseResult parsed = parse_history(text, "generated.jsonl");
  RC_ASSERT(parsed.error == "");
  RC_ASSERT(text_of(parsed.events) == text);
  RC_ASSERT(check_history(parsed.events).linearizable);
}

RC_GTEST_PROP(LincheckProps, AnOkReadOfAValueNobodyWroteIsNotLinearizable, ()) {
  std::vector<Event> events = generated(random_options());
  std::vector<std::size_t> reads;
  for (std::size_t i = 0; i < events.size(); ++i)
    if (events[i].f == Function::read && events[i].type == EventType::ok) reads.push_back(i);
  RC_PRE(!reads.empty());
  Event& read = events[*rc::gen::elementOf(reads)];
  read.value = *rc::gen::element(Value{std::string("nobody")}, Value{std::int64_t{-1}});
  RC_LOG() << text_of(events) << "changed: " << to_json_line(read) << "\n";
  const Verdict v = check_history(events);
  RC_ASSERT(!v.linearizable);
  RC_ASSERT(!v.exhausted);
  RC_ASSERT(v.key == read.key.value_or(""));
  RC_ASSERT(std::any_of(v.window.begin(), v.window.end(), [&read](const Operation& op) {
    return op.f == Function::read && op.value == read.value;
  }));
}

RC_GTEST_PROP(LincheckProps, AnOkReadOfAnOverwrittenValueIsNotLinearizable, ()) {
  GenerateOptions options = random_options();
  options.violation = GenerateOptions::Violation::stale_read;
  const std::vector<Event> events = generated(options);
  RC_LOG() << text_of(events);
  const Verdict v = check_history(events);
  RC_ASSERT(!v.linearizable);
  RC_ASSERT(!v.exhausted);
  RC_ASSERT(!v.window.empty());
}

}  // namespace
}  // namespace omni::lincheck
