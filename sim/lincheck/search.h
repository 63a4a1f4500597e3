#pragma once
// The search at the heart of the checker, over the operations of one register: Wing & Gong's
// backtracking search for a linearization, with Lowe's memo of the states already visited (as
// Porcupine's checkSingle does). Internal to the checker (lincheck.h is the interface).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace omni::lincheck::search {

// What an operation does to the register.
enum class Step : std::uint8_t {
  read,      // the value is a
  write,     // the value becomes a
  cas,       // the value is a, and becomes b
  cas_fail,  // the value is not a; nothing changes
  // An optional write of a value nothing reads or expects (see simplify.h). The search places
  // one only right before a fail cas that would otherwise see its expected value: the earliest
  // one that may be placed there. The value becomes kJunk.
  cover,
};

// The value a cover writes: none of the register's values.
inline constexpr std::uint32_t kJunk = 0xffffffff;

// Values are small integers below kJunk; 0 is null, every register's first value.
struct SearchOp {
  Step step = Step::read;
  std::uint32_t a = 0;
  std::uint32_t b = 0;
  std::uint64_t call = 0;  // position of the invoke in the history
  // Position of the completion. Absent: the operation may take effect at any time after its
  // invoke, or never (an info write or cas).
  std::optional<std::uint64_t> ret;
};

enum class Outcome { linearizable, not_linearizable, exhausted };

struct Result {
  Outcome outcome = Outcome::linearizable;
  std::uint64_t states = 0;  // distinct (operations placed, value) pairs visited
  // not_linearizable: the operation whose completion no order could get past, at the furthest
  // point in the history the search reached. exhausted: the furthest one the search had not
  // got past yet (0 if it met no completion).
  std::size_t stuck = 0;
};

// ops in invoke order (call strictly increasing); positions of calls and completions distinct;
// covers have no completion. Stops with exhausted once more than max_states states would be
// visited.
Result search(const std::vector<SearchOp>& ops, std::uint64_t max_states);

}  // namespace omni::lincheck::search
