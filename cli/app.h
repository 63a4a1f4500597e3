#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace omni::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitBadInput = 2;

// The whole `omni` command line; args exclude the program name. Testable without a process.
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace omni::cli
