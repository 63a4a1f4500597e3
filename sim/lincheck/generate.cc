#include "sim/lincheck/generate.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <tuple>

#include "model/core/assert.h"
#include "model/core/rng.h"

namespace omni::lincheck {
namespace {

constexpr std::int64_t kTickNs = 1000;  // between two operations' instants

class Generator {
 public:
  Generator(const GenerateOptions& options, const Choose& choose)
      : options_(options), choose_(choose), keys_(options.keys) {
    OMNI_ASSERT(options.keys > 0 && options.processes > 0);
    OMNI_ASSERT(options.info_percent + options.fail_percent <= 100);
    for (std::size_t p = 0; p < options.processes; ++p)
      processes_.push_back(Process{static_cast<std::int64_t>(p), -1});
    next_process_ = static_cast<std::int64_t>(options.processes);
    for (KeyState& k : keys_) k.written.emplace_back();  // null
  }

  std::vector<Event> run() {
    for (std::size_t i = 0; i < options_.operations; ++i) operation(i);
    if (options_.violation == GenerateOptions::Violation::stale_read && add_stale_read()) {
    } else if (options_.violation != GenerateOptions::Violation::none) {
      add_unwritten_read();
    }
    std::sort(timed_.begin(), timed_.end(), [](const Timed& a, const Timed& b) {
      return std::tie(a.time, a.order, a.seq) < std::tie(b.time, b.order, b.seq);
    });
    std::vector<Event> events;
    for (Timed& t : timed_) events.push_back(std::move(t.event));
    return events;
  }

 private:
  struct Process {
    std::int64_t id = 0;
    std::int64_t free_at = -1;  // its last operation's completion (or the time it gave up)
  };
  struct KeyState {
    Value current;
    std::vector<Value> written;  // every value it has held
  };
  // What the violations need to know of an operation.
  struct Record {
    std::size_t key = 0;
    bool read_ok = false;
    std::optional<Value> written;  // by an ok write or cas, for certain
    std::int64_t invoke = 0;
    std::int64_t complete = 0;
    std::size_t completion = 0;  // in timed_
  };
  struct Timed {
    std::int64_t time = 0;
    int order = 0;  // completions before invokes at the same time
    std::size_t seq = 0;
    Event event;
  };

  std::uint64_t below(std::uint64_t bound) { return choose_(bound); }

  Value fresh() {
    ++values_;
    if (values_ % 2 == 1) return Value{static_cast<std::int64_t>(values_)};
    std::string text = "v";  // appended, not "v" + ...: GCC 12's -Wrestrict misfires on that
    text += std::to_string(values_);
    return Value{std::move(text)};
  }

  // A value the key does not hold now: one it held before, or one never written. Written
  // values are unique and the current one is the last written, so the others are the rest: a
  // copy of every value ever written, at every cas, grew with the square of the history.
  Value other_than_current(const KeyState& k) {
    OMNI_ASSERT(!k.written.empty() && k.written.back() == k.current);
    const std::size_t others = k.written.size() - 1;
    if (others == 0 || below(2) == 0) return fresh();
    const Value& other = k.written[below(others)];
    OMNI_ASSERT(other != k.current);
    return other;
  }

  // A process free before `invoke` (which may move later, up to just before the instant): the
  // i-th free one in index order, for a draw i. Only the processes in recent_ can be busy (the
  // rest were free before `floor`, which no later invoke is below), so a million clients cost
  // no scan of a million at every operation.
  std::size_t pick_process(std::int64_t& invoke, std::int64_t instant, std::int64_t floor) {
    std::erase_if(recent_, [&](std::size_t p) { return processes_[p].free_at < floor; });
    std::vector<std::size_t> busy;  // in index order, as recent_ is
    for (const std::size_t p : recent_)
      if (processes_[p].free_at >= invoke) busy.push_back(p);
    OMNI_ASSERT(busy.size() <= processes_.size());
    if (busy.size() < processes_.size()) {
      std::size_t chosen = below(processes_.size() - busy.size());
      for (const std::size_t b : busy)
        if (b <= chosen) ++chosen;  // skip the busy ones before it
      OMNI_ASSERT(chosen < processes_.size() && processes_[chosen].free_at < invoke);
      return chosen;
    }
    std::size_t soonest = busy.front();  // every process is busy, so every one is in busy
    for (const std::size_t p : busy)
      if (processes_[p].free_at < processes_[soonest].free_at) soonest = p;
    if (processes_[soonest].free_at + 1 < instant) {
      invoke = processes_[soonest].free_at + 1;
      return soonest;
    }
    processes_.push_back(Process{next_process_++, -1});  // every client is busy: one more
    return processes_.size() - 1;
  }

  void set_free_at(std::size_t p, std::int64_t at) {
    processes_[p].free_at = at;
    recent_.insert(p);
  }

  static void set(KeyState& k, const Value& value) {
    k.current = value;
    k.written.push_back(value);
  }

  void add(std::int64_t time, int order, Event e) {
    e.time_ns = time;
    timed_.push_back(Timed{time, order, timed_.size(), std::move(e)});
  }

  void operation(std::size_t i) {
    const std::uint64_t spread = std::uint64_t{options_.overlap} * kTickNs;
    const auto instant = static_cast<std::int64_t>(i + 1 + options_.overlap) * kTickNs;
    std::int64_t invoke = instant - 1 - static_cast<std::int64_t>(below(spread + 1));
    const std::int64_t complete = instant + 1 + static_cast<std::int64_t>(below(spread + 1));
    const std::size_t p =
        pick_process(invoke, instant, instant - 1 - static_cast<std::int64_t>(spread));
    const std::size_t key = below(keys_.size());

    Event e;
    e.process = processes_[p].id;
    e.key = "k";
    *e.key += std::to_string(key);
    const Outcome outcome = decide(e, keys_[key]);
    add(invoke, 1, e);
    if (outcome.result == EventType::info) {
      give_up(std::move(e), p, invoke, complete);
      return;
    }
    set_free_at(p, complete);
    e.type = outcome.result;
    if (e.f == Function::read) e.value = outcome.read;
    Record record;
    record.key = key;
    record.read_ok = e.f == Function::read && e.type == EventType::ok;
    if (e.type == EventType::ok && e.f != Function::read)
      record.written = e.f == Function::write ? e.value : e.desired;
    record.invoke = invoke;
    record.complete = complete;
    record.completion = timed_.size();
    records_.push_back(std::move(record));
    add(complete, 0, std::move(e));
  }

  struct Outcome {
    EventType result = EventType::ok;
    Value read;  // by an ok read
  };

  // What the operation is and does at its instant: e gets its function and arguments, the key
  // its new value.
  Outcome decide(Event& e, KeyState& k) {
    const std::uint64_t kind = below(100);
    e.f = kind < 40 ? Function::read : kind < 75 ? Function::write : Function::cas;
    const std::uint64_t roll = below(100);
    const bool info = roll < options_.info_percent;
    const bool fail =
        !info && e.f != Function::cas && roll < options_.info_percent + options_.fail_percent;
    const bool takes_effect = !fail && (!info || below(2) == 0);
    Outcome outcome{fail ? EventType::fail : info ? EventType::info : EventType::ok, Value{}};
    if (e.f == Function::write) {
      e.value = fresh();
      if (takes_effect) set(k, e.value);
    } else if (e.f == Function::cas) {
      const bool compares_equal = takes_effect && (info || below(2) == 0);
      e.expected = compares_equal ? k.current : other_than_current(k);
      e.desired = fresh();
      if (compares_equal) set(k, e.desired);
      if (!info && !compares_equal) outcome.result = EventType::fail;  // compared, saw another
    } else if (outcome.result == EventType::ok) {
      outcome.read = k.current;
    }
    return outcome;
  }

  // The client gives up: an info at some time after the invoke, or nothing at all; it goes on
  // as a new process.
  void give_up(Event e, std::size_t p, std::int64_t invoke, std::int64_t complete) {
    processes_[p] = Process{next_process_++, invoke};
    set_free_at(p, invoke);
    if (below(3) == 0) return;
    const auto waited =
        static_cast<std::int64_t>(below(static_cast<std::uint64_t>(complete - invoke)));
    set_free_at(p, invoke + 1 + waited);
    e.type = EventType::info;
    add(invoke + 1 + waited, 0, std::move(e));
  }

  // From the middle on, an ok read R gets the value of an ok write W of its key that another
  // certain write V overwrote before R: W completed before V was invoked, V completed before R
  // was invoked. False when there is no such read.
  bool add_stale_read() {
    constexpr std::size_t kLookBack = 64;  // operations before R searched for W and V
    for (std::size_t r = records_.size() / 2; r < records_.size(); ++r) {
      const Record& read = records_[r];
      if (!read.read_ok) continue;
      for (std::size_t v = r; v-- > 0 && r - v <= kLookBack;) {
        const Record& over = records_[v];
        if (over.key != read.key || !over.written || over.complete >= read.invoke) continue;
        for (std::size_t w = v; w-- > 0 && r - w <= kLookBack;) {
          const Record& stale = records_[w];
          if (stale.key != read.key || !stale.written || stale.complete >= over.invoke) continue;
          if (*stale.written == *over.written) continue;
          timed_[read.completion].event.value = *stale.written;
          return true;
        }
      }
    }
    return false;
  }

  // One ok read from the middle on reads a value never written (one is added if none).
  void add_unwritten_read() {
    for (std::size_t r = records_.size() / 2; r < records_.size(); ++r) {
      if (!records_[r].read_ok) continue;
      timed_[records_[r].completion].event.value = Value{std::string(kNeverWritten)};
      return;
    }
    const auto end =
        static_cast<std::int64_t>(options_.operations + 2 * options_.overlap + 2) * kTickNs;
    Event e;
    e.process = next_process_++;
    e.key = "k0";
    add(end, 1, e);
    e.type = EventType::ok;
    e.value = Value{std::string(kNeverWritten)};
    add(end + 1, 0, e);
  }

  const GenerateOptions& options_;
  const Choose& choose_;
  std::vector<KeyState> keys_;
  std::vector<Process> processes_;
  std::set<std::size_t> recent_;  // the processes that may be busy at some later invoke
  std::int64_t next_process_ = 0;
  std::uint64_t values_ = 0;
  std::vector<Timed> timed_;
  std::vector<Record> records_;  // the operations that completed, in generation order
};

}  // namespace

std::vector<Event> generate_history(const GenerateOptions& options, const Choose& choose) {
  return Generator(options, choose).run();
}

std::vector<Event> generate_history(const GenerateOptions& options, std::uint64_t seed) {
  Rng rng(seed);
  return generate_history(options, [&rng](std::uint64_t bound) { return rng.below(bound); });
}

}  // namespace omni::lincheck
