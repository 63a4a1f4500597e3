#include "node/host.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <utility>

#include "model/core/assert.h"

namespace omni::node {

Host::Host(boost::asio::io_context& io, Address self, std::unique_ptr<Component> component,
           DurableLog log, std::vector<std::string> replayed, Transport& transport,
           DriverRunner driver, std::size_t driver_workers)
    : io_(io),
      self_(std::move(self)),
      component_(std::move(component)),
      log_(std::move(log)),
      replayed_(std::move(replayed)),
      transport_(transport),
      driver_(std::move(driver)),
      workers_(driver_workers),
      timer_(io) {
  OMNI_ASSERT(component_ != nullptr && !self_.empty());
  OMNI_ASSERT(driver_workers > 0, "driver calls need a worker");
}

Host::~Host() {
  *alive_ = false;  // answers still running on workers find nobody to tell
  workers_.join();
}

// The monotonic clock, in the model's nanoseconds.
Time Host::now() const {
  const auto since_boot = std::chrono::steady_clock::now().time_since_epoch();
  return Time{std::chrono::duration_cast<Duration>(since_boot)};
}

void Host::start() {
  boost::asio::post(io_, [this] { step(Start{now(), std::exchange(replayed_, {})}); });
}

void Host::deliver(Address from, v1::Envelope envelope) {
  boost::asio::post(io_, [this, from = std::move(from), envelope = std::move(envelope)]() mutable {
    step(Deliver{now(), std::move(from), std::move(envelope)});
  });
}

void Host::step(const Input& input) {
  if (stopped_) return;
  Outputs outputs;
  component_->step(input, outputs);
  ++counters_.steps;
  execute(outputs);
  if (after_step_) after_step_(*component_);
}

// In order, and nothing after a failed persist or an Exit: the simulator's rule.
void Host::execute(const Outputs& outputs) {
  for (const Output& output : outputs) {
    if (stopped_) return;
    std::visit(
        [this](const auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, Send>) {
            ++counters_.sends;
            transport_.send(self_, o.to, o.envelope);
          } else if constexpr (std::is_same_v<T, Persist>) {
            persist(o);
          } else if constexpr (std::is_same_v<T, WakeAt>) {
            wake_at(o.at);
          } else if constexpr (std::is_same_v<T, DriverCall>) {
            call_driver(o);
          } else if constexpr (std::is_same_v<T, Exit>) {
            stop();
          }
        },
        output);
  }
}

void Host::persist(const Persist& p) {
  ++counters_.persists;
  const auto start = std::chrono::steady_clock::now();
  auto failed = log_.persist(p.record, p.sync, p.replace);
  counters_.persist_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed) {
    failure_ = std::move(failed);
    stop();  // fail-stop: what was synced stays; nothing after this output happens
  }
}

void Host::wake_at(Time at) {
  wakes_.insert(at);
  arm_timer();
}

void Host::arm_timer() {
  if (wakes_.empty() || (armed_for_ && *armed_for_ <= *wakes_.begin())) return;
  armed_for_ = *wakes_.begin();
  const Duration wait = std::max(Duration{0}, *armed_for_ - now());
  timer_.expires_after(wait);
  timer_.async_wait([this](const boost::system::error_code& error) {
    if (error != boost::asio::error::operation_aborted) on_timer();
  });
}

// Every wake that is due is served by one Tick, as the simulator coalesces them.
void Host::on_timer() {
  armed_for_.reset();
  const Time t = now();
  bool due = false;
  while (!wakes_.empty() && *wakes_.begin() <= t) {
    wakes_.erase(wakes_.begin());
    due = true;
  }
  if (due) {
    ++counters_.ticks;
    step(Tick{t});
  }
  arm_timer();
}

void Host::call_driver(const DriverCall& call) {
  ++counters_.driver_calls;
  // The work guard keeps the loop running while the worker has the op: its answer is work too.
  boost::asio::post(
      workers_, [this, call, alive = alive_, work = boost::asio::make_work_guard(io_)] {
        const auto start = std::chrono::steady_clock::now();
        DriverResult result = driver_(call.op);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        boost::asio::post(
            io_, [this, op_id = call.op_id, result = std::move(result), alive, seconds]() mutable {
              if (!*alive) return;
              counters_.driver_seconds += seconds;
              step(DriverDone{now(), op_id, std::move(result)});
            });
      });
}

void Host::stop() {
  stopped_ = true;
  wakes_.clear();
  timer_.cancel();
  if (on_stop_) boost::asio::post(io_, on_stop_);
  OMNI_ASSERT(stopped_ && wakes_.empty());
}

}  // namespace omni::node
