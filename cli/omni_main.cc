#include <iostream>

#include "cli/app.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    return omni::cli::run_cli(args, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "omni: internal error: " << e.what() << "\n";
    return omni::cli::kExitFailure;
  }
}
