#include "sim/cli/seed_runner.h"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "model/core/assert.h"

namespace omni::sim::cli {
namespace {

RunResult run_one(const Scenario& scenario, std::uint64_t seed, const Runner& runner) {
  try {
    return runner(scenario, seed, RunOptions{});
  } catch (const std::exception& e) {
    RunResult failed;
    failed.seed = seed;
    Violation violation;
    violation.invariant = "exception";
    violation.message = e.what();
    violation.seed = seed;
    failed.violation = std::move(violation);
    return failed;
  }
}

}  // namespace

void run_seeds(const Scenario& scenario, const std::vector<std::uint64_t>& seeds, int jobs,
               const Runner& runner, const ResultSink& sink) {
  OMNI_ASSERT(jobs >= 1 && jobs <= kMaxJobs);
  if (jobs == 1 || seeds.size() <= 1) {
    for (std::uint64_t seed : seeds) sink(run_one(scenario, seed, runner));
    return;
  }
  std::vector<std::optional<RunResult>> results(seeds.size());
  std::mutex mutex;
  std::condition_variable done;
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < seeds.size(); i = next++) {
      RunResult result = run_one(scenario, seeds[i], runner);
      std::lock_guard lock(mutex);
      results[i] = std::move(result);
      done.notify_all();
    }
  };
  const std::size_t threads = std::min<std::size_t>(static_cast<std::size_t>(jobs), seeds.size());
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) workers.emplace_back(work);
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    RunResult result;
    {
      std::unique_lock lock(mutex);
      done.wait(lock, [&] { return results[i].has_value(); });
      result = std::move(*results[i]);
      results[i].reset();
    }
    sink(std::move(result));
  }
  for (auto& worker : workers) worker.join();
}

}  // namespace omni::sim::cli
