// omni-sim: runs scenarios in the deterministic simulator. See docs/omni-sim.md.
#include <iostream>
#include <string>
#include <vector>

#include "sim/cli/sim_cli.h"
#include "sim/cluster/run.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return omni::sim::cli::run_sim_cli(args, std::cout, std::cerr, omni::sim::run_scenario);
}
