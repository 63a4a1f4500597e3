// omni-lincheck: checks that a history of register operations is linearizable. See
// docs/histories.md.
#include <iostream>
#include <string>
#include <vector>

#include "sim/lincheck/cli.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return omni::lincheck::run_lincheck_cli(args, std::cin, std::cout, std::cerr);
}
