#pragma once
// Synthetic linearizable histories, for benchmarks and property tests: a sequential run of
// registers (each operation at its own instant), with every operation's invoke moved a random
// time before its instant and its completion a random time after, so operations overlap.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "sim/lincheck/history.h"

namespace omni::lincheck {

struct GenerateOptions {
  std::size_t operations = 1000;
  std::size_t keys = 1;       // "k0", "k1", ...
  std::size_t processes = 5;  // clients; one that gives up continues as a new process
  // Of all operations: the client gave up (completion info, or none at all). Half of these
  // took effect at their instant (which may be after the info), half never did.
  std::uint32_t info_percent = 2;
  // Of reads and writes: failed (did not take effect).
  std::uint32_t fail_percent = 2;
  // How far, in operations, an invoke may come before its instant and a completion after it.
  std::uint32_t overlap = 3;
  // Not linearizable: one ok read from the middle on returns a value nobody wrote
  // (unwritten_read), or a value that a completed write had overwritten before the read was
  // invoked (stale_read; an unwritten read when no read has one).
  enum class Violation { none, unwritten_read, stale_read };
  Violation violation = Violation::none;
};

// Uniform in [0, bound), bound > 0. Every random choice of the generator goes through it.
using Choose = std::function<std::uint64_t(std::uint64_t bound)>;

// Values written are unique: 1, "v2", 3, "v4", ... Events carry time_ns.
std::vector<Event> generate_history(const GenerateOptions& options, const Choose& choose);
std::vector<Event> generate_history(const GenerateOptions& options, std::uint64_t seed);

// The value of an unwritten_read violation: never written by the generator.
inline constexpr const char* kNeverWritten = "never-written";

}  // namespace omni::lincheck
