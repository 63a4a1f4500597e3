// The main of every test executable. Two things GoogleTest's own main does not do:
// - RapidCheck runs with a seed chosen here and printed before any test starts, and a bounded
//   size, so a property that hangs or dies can still be replayed with the RC_PARAMS it printed;
// - each test has a time budget (OMNI_TEST_BUDGET_S, set by ctest to half the ctest timeout):
//   a test over budget is stopped with its name and the seed, instead of being killed silently
//   by ctest's timeout;
// - the processes a test starts (omni, omni-node) inherit LeakSanitizer suppressions for leaks
//   that are not ours (tests/lsan.supp says which and why).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/detail/Configuration.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

namespace {

constexpr int kMaxSizeDefault = 100;
constexpr long kBudgetSecondsDefault = 300;

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

bool names_key(const std::string& params, const std::string& key) {
  return params.find(key + "=") != std::string::npos;
}

// RC_PARAMS as given, completed with a fresh seed and the size bound where they are missing.
std::string completed_rc_params() {
  std::string params = env_or_empty("RC_PARAMS");
  if (!names_key(params, "seed")) {
    std::random_device device;
    const std::uint64_t seed = (std::uint64_t{device()} << 32) | device();
    params += " seed=" + std::to_string(seed);
  }
  if (!names_key(params, "max_size")) params += " max_size=" + std::to_string(kMaxSizeDefault);
  return params;
}

std::uint64_t configured_seed() {
  return rc::detail::configuration().testParams.seed;
}

std::chrono::seconds budget_from_env() {
  const std::string text = env_or_empty("OMNI_TEST_BUDGET_S");
  char* end = nullptr;
  const long seconds = text.empty() ? 0 : std::strtol(text.c_str(), &end, 10);
  if (text.empty() || end == nullptr || *end != '\0' || seconds <= 0) {
    return std::chrono::seconds(kBudgetSecondsDefault);
  }
  return std::chrono::seconds(seconds);
}

// Watches the running test; past its budget it reports and ends the process.
class BudgetWatchdog : public ::testing::EmptyTestEventListener {
 public:
  explicit BudgetWatchdog(std::chrono::seconds budget)
      : budget_(budget), thread_([this] { watch(); }) {}

  ~BudgetWatchdog() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  void OnTestStart(const ::testing::TestInfo& info) override {
    std::lock_guard lock(mutex_);
    test_name_ = std::string(info.test_suite_name()) + "." + info.name();
    deadline_ = std::chrono::steady_clock::now() + budget_;
    changed_.notify_all();
  }

  void OnTestEnd(const ::testing::TestInfo&) override {
    std::lock_guard lock(mutex_);
    deadline_.reset();
    changed_.notify_all();
  }

 private:
  void watch() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (!deadline_) {
        changed_.wait(lock);
        continue;
      }
      const auto deadline = *deadline_;
      if (changed_.wait_until(lock, deadline) == std::cv_status::timeout && deadline_ == deadline) {
        report_and_exit();
      }
    }
  }

  void report_and_exit() const {
    std::fflush(stdout);
    std::fprintf(stderr,
                 "\n%s: over its time budget of %lld s; stopped.\n"
                 "  RapidCheck seed %llu: replay with RC_PARAMS=\"seed=%llu\"\n",
                 test_name_.c_str(), static_cast<long long>(budget_.count()),
                 static_cast<unsigned long long>(configured_seed()),
                 static_cast<unsigned long long>(configured_seed()));
    std::fflush(stderr);
    std::_Exit(1);
  }

  const std::chrono::seconds budget_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string test_name_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::setenv("LSAN_OPTIONS", "suppressions=" OMNI_LSAN_SUPPRESSIONS, 0);
  const std::string params = completed_rc_params();
  ::setenv("RC_PARAMS", params.c_str(), 1);
  try {
    const auto& test_params = rc::detail::configuration().testParams;
    std::printf(
        "RapidCheck: seed %llu, max_size %d, max_success %d (replay: RC_PARAMS=\"seed=%llu\")\n",
        static_cast<unsigned long long>(test_params.seed), test_params.maxSize,
        test_params.maxSuccess, static_cast<unsigned long long>(test_params.seed));
  } catch (const rc::detail::ConfigurationException& e) {
    std::fprintf(stderr, "error: RC_PARAMS=\"%s\": %s\n", params.c_str(), e.what());
    return 2;
  }
  auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
  // GoogleTest owns and deletes what it is given; the watchdog lives until the tests end.
  auto* watchdog = new BudgetWatchdog(budget_from_env());
  listeners.Append(watchdog);
  const int status = RUN_ALL_TESTS();
  delete listeners.Release(watchdog);
  return status;
}
