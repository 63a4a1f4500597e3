#include "sim/shrink/shrink.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "model/core/assert.h"

namespace omni::sim {
namespace {

// A set of faults taken or kept together: at first a unit (a swarm fault and the heal that
// undoes it), then each fault alone. Items hold indexes into the faults the run fired.
using Item = std::vector<std::size_t>;
using Units = std::vector<Item>;

// The fired faults grouped by unit, in the order each unit first fired.
Units units_of(const std::vector<FiredFault>& fired) {
  Units units;
  std::map<std::size_t, std::size_t> item_of_unit;
  for (std::size_t i = 0; i < fired.size(); ++i) {
    const auto [at, added] = item_of_unit.emplace(fired[i].unit, units.size());
    if (added) units.emplace_back();
    units[at->second].push_back(i);
  }
  return units;
}

// Each fault of the items an item of its own.
Units singles_of(const Units& units) {
  Units singles;
  for (const Item& item : units)
    for (std::size_t i : item) singles.push_back({i});
  std::sort(singles.begin(), singles.end());
  return singles;
}

std::size_t faults_in(const Units& units) {
  std::size_t n = 0;
  for (const Item& item : units) n += item.size();
  return n;
}

std::size_t swarm_faults(const std::vector<FiredFault>& fired) {
  return static_cast<std::size_t>(
      std::count_if(fired.begin(), fired.end(), [](const FiredFault& f) { return f.swarm; }));
}

// The scenario with the fired faults of `keep` as its whole script, in the order they fired, and
// no swarm.
Scenario scripted(const Scenario& scenario, std::uint64_t seed,
                  const std::vector<FiredFault>& fired, const Units& keep) {
  std::set<std::size_t> kept;
  for (const Item& item : keep) kept.insert(item.begin(), item.end());
  Scenario out = scenario;
  out.seed = seed;
  out.swarm.reset();
  out.faults.clear();
  for (std::size_t i : kept) {
    OMNI_ASSERT(i < fired.size(), "items index the fired faults");
    out.faults.push_back(fired[i].fault);
  }
  OMNI_ASSERT(out.faults.size() == faults_in(keep), "no fault is in two items");
  return out;
}

// `units` cut into `n` chunks of nearly equal size, in order.
std::vector<Units> chunks_of(const Units& units, std::size_t n) {
  OMNI_ASSERT(n >= 1 && n <= units.size());
  std::vector<Units> chunks;
  std::size_t start = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t end = start + (units.size() - start) / (n - i);
    chunks.emplace_back(units.begin() + static_cast<std::ptrdiff_t>(start),
                        units.begin() + static_cast<std::ptrdiff_t>(end));
    start = end;
  }
  OMNI_ASSERT(start == units.size());
  return chunks;
}

Units without(const Units& units, const Units& removed) {
  Units rest;
  for (const Item& item : units)
    if (std::find(removed.begin(), removed.end(), item) == removed.end()) rest.push_back(item);
  return rest;
}

class Shrinker {
 public:
  Shrinker(const Scenario& scenario, std::uint64_t seed, const ScenarioRunner& runner,
           const RunOptions& options, const std::function<void(const std::string&)>& progress,
           ShrinkResult& result)
      : scenario_(scenario),
        seed_(seed),
        runner_(runner),
        options_(options),
        progress_(progress),
        result_(result) {}

  // Zeller's ddmin: try each chunk alone, then each complement; on no progress, finer chunks.
  // What it ends with is 1-minimal: it has tried every set with one unit less.
  Units minimize(Units units) {
    std::size_t n = 2;
    while (units.size() >= 2) {
      n = std::min(n, units.size());
      if (auto smaller = smaller_failing(units, n)) {
        n = smaller->size() < units.size() / 2 ? 2 : std::max<std::size_t>(n - 1, 2);
        units = std::move(*smaller);
        progress_(std::to_string(faults_in(units)) + " faults still fail (run " +
                  std::to_string(result_.runs) + ")");
        continue;
      }
      if (n == units.size()) break;
      n = std::min(units.size(), n * 2);
    }
    return units;
  }

  bool fails(const Units& units) {
    ++result_.runs;
    RunResult run = runner_(scripted(scenario_, seed_, fired(), units), seed_, options_);
    if (failure_signature(run) != result_.signature) return false;
    result_.minimal_run = std::move(run);
    return true;
  }

 private:
  const std::vector<FiredFault>& fired() const { return result_.original.faults_fired; }

  std::optional<Units> smaller_failing(const Units& units, std::size_t n) {
    const std::vector<Units> chunks = chunks_of(units, n);
    for (const Units& chunk : chunks)
      if (chunk.size() < units.size() && fails(chunk)) return chunk;
    if (n == 2) return std::nullopt;  // with two chunks each complement is the other chunk
    for (const Units& chunk : chunks) {
      Units rest = without(units, chunk);
      if (fails(rest)) return rest;
    }
    return std::nullopt;
  }

  const Scenario& scenario_;
  std::uint64_t seed_;
  const ScenarioRunner& runner_;
  const RunOptions& options_;
  const std::function<void(const std::string&)>& progress_;
  ShrinkResult& result_;
};

}  // namespace

std::string failure_signature(const RunResult& result) {
  if (result.passed) return "";
  if (result.violation) return "invariant '" + result.violation->invariant + "'";
  OMNI_ASSERT(!result.expectation_failures.empty(), "a failed run broke something");
  return "an unmet expectation";
}

ShrinkResult shrink_run(const Scenario& scenario, std::uint64_t seed, const ScenarioRunner& runner,
                        const RunOptions& options,
                        const std::function<void(const std::string&)>& progress) {
  ShrinkResult result;
  result.original = runner(scenario, seed, options);
  result.runs = 1;
  result.signature = failure_signature(result.original);
  const std::vector<FiredFault>& fired = result.original.faults_fired;
  const Units all = units_of(fired);
  result.faults_fired = fired.size();
  result.faults_swarm = swarm_faults(fired);
  if (result.signature.empty()) {
    result.refused = "seed " + std::to_string(seed) + " passes: there is no failure to shrink";
    return result;
  }
  progress("seed " + std::to_string(seed) + " fails: " + result.signature + "; " +
           std::to_string(fired.size()) + " faults fired (" +
           std::to_string(fired.size() - result.faults_swarm) + " scripted, " +
           std::to_string(result.faults_swarm) + " drawn by the swarm)");
  Shrinker shrinker(scenario, seed, runner, options, progress, result);
  if (!shrinker.fails(all)) {
    result.refused =
        "replayed as a script, the faults of seed " + std::to_string(seed) +
        " no longer fail the same way (the run differs from the original where faults tie "
        "in time); nothing was shrunk";
    return result;
  }
  // Units first, which halves the work; then fault by fault, since a swarm heal may be what ends
  // a scripted partition, and a fault its unit's other half does not need.
  const Units minimal =
      shrinker.fails(Units{}) ? Units{} : shrinker.minimize(singles_of(shrinker.minimize(all)));
  result.faults_kept = minimal.size();
  result.minimal = scripted(scenario, seed, fired, minimal);
  OMNI_ASSERT(result.faults_kept <= result.faults_fired);
  OMNI_ASSERT(failure_signature(result.minimal_run) == result.signature);
  return result;
}

}  // namespace omni::sim
