#pragma once
// The linearizability checker for register histories (docs/histories.md): is there an order of
// the operations, each taking effect at one instant between its invoke and its completion, that
// a single register per key would produce? Keys are checked independently.
#include <cstdint>
#include <string>
#include <vector>

#include "sim/lincheck/history.h"

namespace omni::lincheck {

struct Limits {
  // Distinct search states (a set of operations taken to have happened, and the value) the
  // search of one key may visit, each about 90 bytes while the key is checked, with at most 64
  // bytes of keys a state on average: the default bounds that memory near 260 MB. A history of
  // thousands of operations from a few clients needs about one per operation. A key that needs
  // more is still found not linearizable if a small window of it cannot be ordered (see
  // Verdict::window); else it gets no verdict.
  std::uint64_t max_states = 2'000'000;
  // States spent, in all, on shrinking a violation to a minimal window (a tenth of it at most
  // per check). When spent, the window found so far is reported: it cannot be ordered, but it
  // may not be minimal.
  std::uint64_t max_window_states = 1'000'000;
  // States the keys' searches may visit in all; 0: ten times max_states. Each key's own bound
  // kept one key to about 3 s, but not a history of many hard keys (60 took 39 s).
  std::uint64_t max_total_states = 0;
};

struct Verdict {
  // True only when every key was shown linearizable.
  bool linearizable = true;
  // Some key needed more than Limits::max_states states, and no window of it that cannot be
  // ordered was found either: no verdict (linearizable is false).
  bool exhausted = false;
  // The first key, in order of first appearance, found not linearizable (or too hard to
  // check); "" for the register without a key.
  std::string key;
  // Operations of that key, in invoke order, that cannot be ordered: no order of them, each
  // taking effect between its invoke and its completion (an info one at any time after its
  // invoke, or never), gives each its result, even if every other operation of the key took
  // effect at any time, or never (so not on their own either). Each is needed: relaxing any
  // one of them too (a read: dropped; a write or cas, whatever its result: writing its new
  // value at any time, or never) makes an order possible, unless window_minimal is false (the
  // budget ran out first).
  std::vector<Operation> window;
  bool window_minimal = true;
  // For a person: the summary line when linearizable; otherwise the key and the window, one
  // operation per line (process, call, result, positions); or why there is no verdict.
  std::string report;
  std::uint64_t states_explored = 0;  // by the keys' searches (not the window's), all keys
  std::size_t operations = 0;         // invokes in the history
  std::size_t keys = 0;               // distinct keys (the register without a key counts)
};

// events must be well-formed (HistoryValidator accepts each in turn, as parse_history checks);
// a malformed list is a bug of the code that built it and fails an assertion.
Verdict check_history(const std::vector<Event>& events, const Limits& limits = {});

// "linearizable: N operations on K keys (S states explored)".
std::string summary_line(const Verdict& verdict);

}  // namespace omni::lincheck
