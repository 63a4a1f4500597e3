#include "node/host.h"

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <utility>

#include "model/core/assert.h"

namespace omni::node {
namespace {

bool is_exit(const Output& output) {
  return std::holds_alternative<Exit>(output);
}

}  // namespace

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
  boost::asio::post(io_, [this] { enqueue(Start{now(), std::exchange(replayed_, {})}); });
}

bool InboxBudget::admit(std::size_t bytes) {
  std::size_t held = held_bytes_.load();
  do {
    if (bytes > limit_bytes_ - std::min(held, limit_bytes_)) {
      ++dropped_;
      return false;
    }
  } while (!held_bytes_.compare_exchange_weak(held, held + bytes));
  return true;
}

void InboxBudget::release(std::size_t bytes) {
  const std::size_t before = held_bytes_.fetch_sub(bytes);
  OMNI_ASSERT(before >= bytes, "only admitted bytes are released");
}

void Host::deliver(Address from, v1::Envelope envelope, std::size_t admitted_bytes) {
  boost::asio::post(io_, [this, from = std::move(from), envelope = std::move(envelope),
                          admitted_bytes]() mutable {
    enqueue(Deliver{now(), std::move(from), std::move(envelope)}, admitted_bytes);
  });
}

void Host::release(std::size_t admitted_bytes) {
  if (budget_ != nullptr && admitted_bytes > 0) budget_->release(admitted_bytes);
}

void Host::enqueue(Input input, std::size_t admitted_bytes) {
  if (stopped_) return release(admitted_bytes);
  inbox_.push_back(Waiting{std::move(input), admitted_bytes});
  if (drain_posted_) return;
  drain_posted_ = true;
  boost::asio::post(io_, [this] { drain(); });
}

void Host::drain() {
  drain_posted_ = false;
  Outputs batch;
  for (std::size_t n = 0; n < kMaxBatch && !inbox_.empty() && !stopped_; ++n) {
    const Waiting waiting = std::move(inbox_.front());
    inbox_.pop_front();
    const std::size_t before = batch.size();
    component_->step(waiting.input, batch);
    release(waiting.admitted_bytes);
    ++counters_.steps;
    if (after_step_) after_step_(*component_);
    // Nothing is stepped after an Exit: the component is done.
    if (std::any_of(batch.begin() + static_cast<std::ptrdiff_t>(before), batch.end(), is_exit))
      break;
  }
  execute(batch);
  if (!inbox_.empty() && !stopped_ && !drain_posted_) {
    drain_posted_ = true;
    boost::asio::post(io_, [this] { drain(); });
  }
}

// In order, as one step at a time would, except that what follows a record that must be
// synced waits for one fdatasync at the end of the batch instead of one per record. A failed
// persist stops everything after it, and also what was waiting for the sync: as if the process
// had crashed a moment earlier, which the model survives like any crash.
void Host::execute(const Outputs& outputs) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<const Output*> waiting;  // for the sync
  bool unsynced = false;
  for (const Output& output : outputs) {
    if (stopped_) return;
    if (const auto* p = std::get_if<Persist>(&output)) {
      ++counters_.persists;
      if (auto failed = log_.persist(p->record, /*sync=*/false, p->replace)) return fail(*failed);
      unsynced = unsynced || p->sync;
    } else if (unsynced) {
      waiting.push_back(&output);
    } else {
      execute_one(output);
    }
  }
  if (unsynced) {
    ++counters_.syncs;
    if (auto failed = log_.sync()) return fail(*failed);
  }
  counters_.persist_seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const Output* output : waiting) {
    if (stopped_) return;
    execute_one(*output);
  }
}

void Host::execute_one(const Output& output) {
  std::visit(
      [this](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, Send>) {
          ++counters_.sends;
          transport_.send(self_, o.to, o.envelope);
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

void Host::fail(LogError error) {
  failure_ = std::move(error);
  stop();  // fail-stop: what was synced stays; nothing after the failed record happens
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
    enqueue(Tick{t});
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
              enqueue(DriverDone{now(), op_id, std::move(result)});
            });
      });
}

void Host::stop() {
  stopped_ = true;
  for (const Waiting& waiting : inbox_) release(waiting.admitted_bytes);
  inbox_.clear();
  wakes_.clear();
  timer_.cancel();
  if (on_stop_) boost::asio::post(io_, on_stop_);
  OMNI_ASSERT(stopped_ && wakes_.empty() && inbox_.empty());
}

}  // namespace omni::node
