#pragma once
// The whole `omni-lincheck` command line (docs/histories.md), testable without a process.
#include <istream>
#include <ostream>
#include <string>
#include <vector>

namespace omni::lincheck {

inline constexpr int kExitLinearizable = 0;
inline constexpr int kExitNotLinearizable = 1;
// A malformed history, bad usage, an unreadable file, or a history too hard to check.
inline constexpr int kExitBadInput = 2;

// args exclude the program name; FILE "-" reads `in`.
int run_lincheck_cli(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                     std::ostream& err);

}  // namespace omni::lincheck
