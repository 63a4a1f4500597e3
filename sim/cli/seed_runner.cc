#include "sim/cli/seed_runner.h"

#include <condition_variable>
#include <exception>
#include <map>
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
  // Results wait here until the seeds before them are handed on, in order; a worker takes a
  // seed only within kWindowPerJob seeds a job of the next to hand on, so what waits is bounded
  // (a result slot for each of a million seeds was 650 MB before the first seed ran).
  constexpr std::size_t kWindowPerJob = 64;
  const std::size_t threads = std::min<std::size_t>(static_cast<std::size_t>(jobs), seeds.size());
  const std::size_t window = kWindowPerJob * threads;
  std::map<std::size_t, RunResult> finished;
  std::size_t handed_on = 0;
  std::size_t next = 0;
  std::mutex mutex;
  std::condition_variable changed;
  auto work = [&] {
    for (;;) {
      std::size_t i = 0;
      {
        std::unique_lock lock(mutex);
        if (next == seeds.size()) return;
        i = next++;
        changed.wait(lock, [&] { return i < handed_on + window; });
      }
      RunResult result = run_one(scenario, seeds[i], runner);
      std::lock_guard lock(mutex);
      finished.emplace(i, std::move(result));
      changed.notify_all();
    }
  };
  std::vector<std::thread> workers;
  for (std::size_t t = 0; t < threads; ++t) workers.emplace_back(work);
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    RunResult result;
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return finished.count(i) > 0; });
      auto node = finished.extract(i);
      result = std::move(node.mapped());
      handed_on = i + 1;
      OMNI_ASSERT(finished.size() <= window, "what waits is bounded by the window");
    }
    changed.notify_all();
    sink(std::move(result));
  }
  for (auto& worker : workers) worker.join();
}

}  // namespace omni::sim::cli
