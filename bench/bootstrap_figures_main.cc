// Figures for the simulated `omni init` (docs/figures.md): wall time per seed and the
// simulated/wall ratio for bootstrap.yaml, the 1,000- and 10,000-node runs with peak RSS, and
// the simulated init time against cluster size (it must follow the critical path).
//   bench-bootstrap-figures [SEEDS]      (run from the repository root)
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/config/parse.h"
#include "sim/cluster/run.h"
#include "sim/scenario/parse.h"

namespace {

using omni::sim::RunResult;
using omni::sim::Scenario;

Scenario load(const std::string& path) {
  const omni::sim::FileReader read =
      [](const std::string& p) -> std::variant<std::string, omni::config::Diagnostic> {
    std::ifstream in(p);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  };
  auto parsed = omni::sim::parse_scenario(std::get<std::string>(read(path)), path, read);
  if (!std::holds_alternative<Scenario>(parsed)) {
    std::fprintf(stderr, "%s\n", std::get<1>(parsed).front().to_string().c_str());
    std::exit(2);
  }
  return std::get<Scenario>(std::move(parsed));
}

Scenario of_nodes(int nodes) {
  std::string yaml = "cluster: {name: big, orchestrators: 3}\nnodes:\n";
  for (int i = 1; i <= nodes; ++i)
    yaml += "  - {name: node-" + std::to_string(i) + ", resources: {cpu: 32, memory: 128Gi}}\n";
  Scenario s;
  s.name = std::to_string(nodes) + " nodes";
  s.cluster_yaml = yaml;
  s.cluster = *omni::config::parse_cluster_config(yaml, "generated").config;
  return s;
}

struct Timed {
  RunResult result;
  double wall_s = 0;
  double cpu_s = 0;  // this thread's CPU time: what the run costs on a busy machine
};

double cpu_now_s() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

Timed timed_run(const Scenario& s, std::uint64_t seed) {
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_now_s();
  RunResult r = omni::sim::run_scenario(s, seed);
  const double cpu = cpu_now_s() - cpu_start;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!r.passed) std::fprintf(stderr, "seed %lu of %s did not pass\n", seed, s.name.c_str());
  return {std::move(r), wall, cpu};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double seconds(omni::Time t) {
  return static_cast<double>(omni::ns_of(t)) / 1e9;
}

long peak_rss_mib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024;
}

}  // namespace

int main(int argc, char** argv) {
  const int seeds = argc > 1 ? std::atoi(argv[1]) : 21;
  const Scenario bootstrap = load("scenarios/bootstrap.yaml");
  std::vector<double> walls, cpus, ratios, cpu_ratios, inits;
  for (int seed = 1; seed <= seeds; ++seed) {
    const Timed t = timed_run(bootstrap, static_cast<std::uint64_t>(seed));
    walls.push_back(t.wall_s);
    cpus.push_back(t.cpu_s);
    ratios.push_back(seconds(t.result.end) / t.wall_s);
    cpu_ratios.push_back(seconds(t.result.end) / t.cpu_s);
    inits.push_back(seconds(*t.result.init_done_at));
  }
  std::printf("bootstrap.yaml, %d seeds: median wall %.2f ms (CPU %.2f ms) per seed\n", seeds,
              median(walls) * 1e3, median(cpus) * 1e3);
  std::printf("  median simulated/wall %.0fx, simulated/CPU %.0fx; median init %.1f s simulated\n",
              median(ratios), median(cpu_ratios), median(inits));

  std::printf("\n%-8s %9s %9s %13s %10s %10s\n", "nodes", "wall (s)", "CPU (s)", "init (sim s)",
              "events", "peak RSS");
  for (int nodes : {3, 100, 1000, 10000}) {
    std::vector<double> node_walls, node_cpus, node_inits;
    RunResult last;
    const int runs = nodes >= 10000 ? 1 : nodes >= 1000 ? 5 : seeds;
    const Scenario s = of_nodes(nodes);
    for (int seed = 1; seed <= runs; ++seed) {
      Timed t = timed_run(s, static_cast<std::uint64_t>(seed));
      node_walls.push_back(t.wall_s);
      node_cpus.push_back(t.cpu_s);
      node_inits.push_back(seconds(*t.result.init_done_at));
      last = std::move(t.result);
    }
    std::printf("%-8d %9.2f %9.2f %13.1f %10lu %6ld MiB  (median of %d seeds)\n", nodes,
                median(node_walls), median(node_cpus), median(node_inits), last.events,
                peak_rss_mib(), runs);
  }
  return 0;
}
