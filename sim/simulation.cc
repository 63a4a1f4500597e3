#include "sim/simulation.h"

#include <algorithm>
#include <bit>
#include <exception>

#include "model/core/assert.h"

namespace omni::sim {
namespace {

constexpr std::uint64_t kSwarmStreamKey = 0x5377'6172'6d5f'7331ULL;  // "Swarm_s1"

}  // namespace

Simulation::Simulation(SimConfig config)
    : config_(std::move(config)),
      network_(config_.network),
      net_rng_(config_.seed),
      fault_rng_(net_rng_.fork()),
      driver_rng_(net_rng_.fork()),
      spawn_rng_(net_rng_.fork()),
      swarm_rng_(config_.seed ^ kSwarmStreamKey),
      driver_(std::make_unique<UnavailableDriver>()),
      trace_(config_.record_events) {
  network_.validate();
  OMNI_ASSERT(config_.max_events > 0, "max_events bounds every run");
  OMNI_ASSERT(config_.max_events_per_instant > 0, "max_events_per_instant bounds every instant");
  OMNI_ASSERT(config_.sync_latency >= Duration{0}, "a sync cannot end before it begins");
}

Simulation::~Simulation() = default;

// Processes ------------------------------------------------------------------------------

AddressId Simulation::intern(const Address& address) {
  const AddressId id = book_.intern(address);
  if (processes_.size() <= id) processes_.resize(id + 1);
  OMNI_ASSERT(processes_.size() == book_.size());
  return id;
}

Simulation::Process& Simulation::process_of(const Address& address) {
  const std::int64_t id = book_.find(address);
  OMNI_ASSERT(id >= 0 && processes_[id].registered, "no process at address " + address);
  return processes_[id];
}

const Simulation::Process& Simulation::process_of(const Address& address) const {
  const std::int64_t id = book_.find(address);
  OMNI_ASSERT(id >= 0 && processes_[id].registered, "no process at address " + address);
  return processes_[id];
}

void Simulation::add_process(const Address& address, ComponentFactory factory,
                             Duration start_after) {
  OMNI_ASSERT(factory != nullptr, "a process needs a factory");
  OMNI_ASSERT(start_after >= 0ns);
  const AddressId id = intern(address);
  Process& process = processes_[id];
  OMNI_ASSERT(!process.registered, "two processes at address " + address);
  process.registered = true;
  process.factory = std::move(factory);
  queue_.push(Event{.at_ns = ns_of(now_ + start_after),
                    .type = EventType::start,
                    .process = id,
                    .arg = process.incarnation});
}

void Simulation::crash(const Address& address) {
  Process& process = process_of(address);
  const AddressId id = book_.intern(address);
  process.disk.crash();
  if (!process.up) return;
  stop_process(id);
  ++counters_.crashes;
  record(EventKind::crash, id, 0, process.incarnation);
  OMNI_ASSERT(!processes_[id].up);
}

void Simulation::stop_process(AddressId id) {
  Process& process = processes_[id];
  OMNI_ASSERT(process.up, "stopping a process that is down");
  process.component.reset();
  process.up = false;
  ++process.incarnation;  // events of the old incarnation are now stale
  process.pending_wakes_local_ns.clear();
  OMNI_ASSERT(process.component == nullptr);
}

void Simulation::restart(const Address& address, Duration after) {
  OMNI_ASSERT(after >= 0ns);
  if (is_up(address)) crash(address);
  const AddressId id = book_.intern(address);
  queue_.push(Event{.at_ns = ns_of(now_ + after),
                    .type = EventType::start,
                    .process = id,
                    .arg = processes_[id].incarnation});
  OMNI_ASSERT(!processes_[id].up);
}

// An address nobody was ever started at (a message named it first) is simply not up.
bool Simulation::is_up(const Address& address) const {
  const std::int64_t id = book_.find(address);
  return id >= 0 && processes_[static_cast<std::size_t>(id)].registered &&
         processes_[static_cast<std::size_t>(id)].up;
}

std::vector<std::string> Simulation::checker_names() const {
  std::vector<std::string> names;
  for (const auto& checker : checkers_) names.push_back(checker->name());
  return names;
}

Component* Simulation::component(const Address& address) const {
  if (!is_up(address)) return nullptr;
  return process_of(address).component.get();
}

Component* Simulation::component(std::size_t id) const {
  OMNI_ASSERT(id < processes_.size(), "unknown address id");
  return processes_[id].component.get();
}

std::uint64_t Simulation::incarnation(const Address& address) const {
  return process_of(address).incarnation;
}

std::uint64_t Simulation::incarnation(AddressId id) const {
  OMNI_ASSERT(id < processes_.size(), "unknown address id");
  return processes_[id].incarnation;
}

const SimDisk& Simulation::disk(const Address& address) const {
  return process_of(address).disk;
}

// Schedules and checkers -------------------------------------------------------------------

void Simulation::set_driver_handler(std::unique_ptr<DriverHandler> handler) {
  OMNI_ASSERT(handler != nullptr, "use UnavailableDriver for no driver");
  driver_ = std::move(handler);
}

void Simulation::at(Time when, Action action) {
  OMNI_ASSERT(when >= now_, "an action cannot be scheduled in the past");
  OMNI_ASSERT(action != nullptr);
  const std::uint64_t slot = actions_.acquire();
  actions_[slot] = std::move(action);
  queue_.push(Event{.at_ns = ns_of(when), .type = EventType::action, .arg = slot});
}

void Simulation::after(Duration delay, Action action) {
  at(now_ + delay, std::move(action));
}

void Simulation::add_checker(std::unique_ptr<Checker> checker) {
  OMNI_ASSERT(checker != nullptr);
  OMNI_ASSERT(!checker->name().empty(), "a checker needs a name");
  OMNI_ASSERT(checkers_.size() < kMaxCheckers, "checkers are bits of a 64-bit mask");
  if (checker->every_event()) every_event_checkers_ |= std::uint64_t{1} << checkers_.size();
  checker_names_.push_back(checker->name());
  checkers_.push_back(std::move(checker));
  watchers_.clear();  // each component's watchers are asked again, this checker included
  OMNI_ASSERT(checker_names_.size() == checkers_.size());
}

void Simulation::set_exit_listener(ExitListener listener) {
  exit_listener_ = std::move(listener);
}

void Simulation::bump(const std::string& counter, std::int64_t delta) {
  named_counters_[counter] += delta;
}

void Simulation::record(EventKind kind, AddressId process, AddressId peer, std::uint64_t detail) {
  trace_.add(
      TraceEvent{.at = now_, .kind = kind, .process = process, .peer = peer, .detail = detail});
}

// Running ----------------------------------------------------------------------------------

bool Simulation::step() {
  if (violation_ || queue_.empty()) return false;
  const Event event = queue_.pop();
  OMNI_ASSERT(event.at_ns >= ns_of(now_), "the event queue went back in time");
  events_at_instant_ = event.at_ns == ns_of(now_) ? events_at_instant_ + 1 : 0;
  now_ = event.at();
  ++counters_.events;
  if (events_at_instant_ > config_.max_events_per_instant) {
    report_violation(
        "livelock", std::to_string(events_at_instant_) + " events without the clock moving",
        event.process < book_.size() ? std::vector<Address>{book_.address_of(event.process)}
                                     : std::vector<Address>{});
    return false;
  }
  dispatch(event);
  if (!violation_ && !checkers_.empty()) run_safety_checks();
  return !violation_;
}

RunStatus Simulation::run_until(Time deadline) {
  OMNI_ASSERT(deadline >= now_, "run_until a time in the past");
  while (!violation_) {
    if (queue_.empty() || queue_.top().at_ns > ns_of(deadline)) {
      now_ = deadline;
      return RunStatus::deadline;
    }
    if (counters_.events >= config_.max_events) return RunStatus::event_limit;
    step();
  }
  OMNI_ASSERT(violation_.has_value());
  return RunStatus::violation;
}

void Simulation::run_safety_checks() {
  for (std::uint64_t due = checkers_due(); due != 0; due &= due - 1) {
    const auto i = static_cast<std::size_t>(std::countr_zero(due));
    OMNI_ASSERT(i < checkers_.size());
    const std::string& name = checker_names_[i];
    CheckContext context(*this, name);
    try {
      checkers_[i]->check_safety(context);
    } catch (const std::exception& error) {
      report_violation(name, error.what(), {});
    }
    if (violation_) return;
  }
}

// The checkers that run after every event, and those that watch the component the event
// stepped, if one stepped (it may have exited in that step and have no component left).
std::uint64_t Simulation::checkers_due() {
  checked_component_ = nullptr;
  const auto id = stepped_in_last_event();
  if (!id) return every_event_checkers_;
  const Process& process = processes_[*id];
  if (!process.component) return every_event_checkers_;
  checked_component_ = process.component.get();
  if (*id >= watchers_.size()) watchers_.resize(*id + 1);
  Watchers& watchers = watchers_[*id];
  if (!watchers.valid || watchers.incarnation != process.incarnation)
    watchers = Watchers{.valid = true,
                        .incarnation = process.incarnation,
                        .checkers = checkers_watching(*process.component)};
  OMNI_ASSERT(watchers.incarnation == process.incarnation);
  return every_event_checkers_ | watchers.checkers;
}

std::uint64_t Simulation::checkers_watching(const Component& component) const {
  std::uint64_t watching = 0;
  for (std::size_t i = 0; i < checkers_.size(); ++i)
    if (!checkers_[i]->every_event() && checkers_[i]->watches(component))
      watching |= std::uint64_t{1} << i;
  OMNI_ASSERT((watching & every_event_checkers_) == 0);
  return watching;
}

bool Simulation::check_liveness() {
  for (const auto& checker : checkers_) {
    if (violation_) return false;
    const std::string name = checker->name();
    CheckContext context(*this, name);
    try {
      checker->check_liveness(context);
    } catch (const std::exception& error) {
      report_violation(name, error.what(), {});
    }
  }
  return !violation_;
}

void Simulation::report_violation(std::string invariant, std::string message,
                                  std::vector<Address> processes) {
  OMNI_ASSERT(!invariant.empty(), "a violation names its invariant");
  if (violation_) return;  // the first one stops the run; later ones are consequences
  violation_ = Violation{.invariant = std::move(invariant),
                         .at = now_,
                         .processes = std::move(processes),
                         .message = std::move(message),
                         .seed = config_.seed,
                         .events = counters_.events};
  OMNI_ASSERT(violation_.has_value());
}

// Dispatch ---------------------------------------------------------------------------------

void Simulation::dispatch(const Event& event) {
  switch (event.type) {
    case EventType::start:
      return on_start(event);
    case EventType::deliver:
      return on_deliver(event);
    case EventType::tick:
      return on_tick(event);
    case EventType::driver_done:
      return on_driver_done(event);
    case EventType::action:
      return on_action(event);
  }
  OMNI_ASSERT(false, "unknown event type");
}

void Simulation::on_start(const Event& event) {
  Process& process = processes_[event.process];
  OMNI_ASSERT(process.registered, "start of an unregistered address");
  if (process.up || process.incarnation != event.arg) return;  // superseded by another restart
  process.component = process.factory(spawn_rng_.fork());
  OMNI_ASSERT(process.component != nullptr, "a factory returned no component");
  process.up = true;
  ++counters_.starts;
  record(EventKind::start, event.process, 0, process.incarnation);
  Start start{.now = process.clock.local_at(now_), .persisted = process.disk.records()};
  trace_.add_records(start.persisted);
  const Input input{std::move(start)};
  step_component(event.process, input);
}

void Simulation::on_deliver(const Event& event) {
  InFlight& message = messages_[event.arg];
  OMNI_ASSERT(message.copies_left > 0);
  Process& target = processes_[message.to];
  if (!target.up) {
    drop_message(message, DropReason::destination_down);
  } else if (links_.blocked(book_.location_of(message.from), book_.location_of(message.to))) {
    drop_message(message, DropReason::link_blocked);  // cut while in flight
  } else {
    auto& deliver = std::get<Deliver>(deliver_input_);
    if (!received_envelope(message, deliver.envelope)) {
      ++counters_.messages_unparseable;
      drop_message(message, DropReason::unparseable);
    } else {
      deliver.now = target.clock.local_at(now_);
      deliver.from = book_.address_of(message.from);
      ++counters_.messages_delivered;
      record(EventKind::deliver, message.to, message.from,
             static_cast<std::uint64_t>(deliver.envelope.body_case()));
      const AddressId to = message.to;
      release_message(event.arg);
      step_component(to, deliver_input_);
      return;
    }
  }
  release_message(event.arg);
}

// The envelope the receiver parses from the bytes: the one sent, moved out for the last copy and
// copied for a duplicate still in flight (serializing and parsing give back an equal message).
bool Simulation::received_envelope(InFlight& message, v1::Envelope& into) {
  OMNI_ASSERT(message.copies_left > 0);
  if (!message.has_envelope) return into.ParseFromString(message.bytes);
  if (message.copies_left == 1) {
    into.Swap(&message.envelope);
    message.has_envelope = false;  // what is left there is the receiver's previous message
  } else {
    into.CopyFrom(message.envelope);
  }
  OMNI_ASSERT(!message.has_envelope || message.copies_left > 1, "only a duplicate keeps it");
  return true;
}

void Simulation::release_message(std::uint64_t slot) {
  InFlight& message = messages_[slot];
  OMNI_ASSERT(message.copies_left > 0, "message released twice");
  if (--message.copies_left == 0) messages_.release(slot);
}

void Simulation::drop_message(const InFlight& message, DropReason reason) {
  ++counters_.messages_dropped;
  if (reason == DropReason::random) {
    ++counters_.messages_dropped_random;
  } else if (reason != DropReason::unparseable) {
    ++counters_.messages_dropped_blocked;
  }
  record(EventKind::drop, message.from, message.to, static_cast<std::uint64_t>(reason));
}

void Simulation::on_tick(const Event& event) {
  Process& process = processes_[event.process];
  if (!process.up || process.incarnation != event.arg) return;  // stale: crashed since
  const Time local = process.clock.local_at(now_);
  const std::int64_t target_ns = event.arg2;
  if (ns_of(local) < target_ns) {  // the local clock is not there yet (rounding, slowed rate)
    const Duration wait = process.clock.sim_duration_for(Duration{target_ns - ns_of(local)});
    queue_.push(Event{.at_ns = ns_of(now_ + std::max(wait, Duration{1})),
                      .type = EventType::tick,
                      .process = event.process,
                      .arg = event.arg,
                      .arg2 = target_ns});
    return;
  }
  auto& wakes = process.pending_wakes_local_ns;
  const auto found = std::find(wakes.begin(), wakes.end(), target_ns);
  OMNI_ASSERT(found != wakes.end(), "a tick fired that was not pending");
  *found = wakes.back();
  wakes.pop_back();
  ++counters_.ticks;
  record(EventKind::tick, event.process, 0, static_cast<std::uint64_t>(target_ns));
  std::get<Tick>(tick_input_).now = local;
  step_component(event.process, tick_input_);
}

void Simulation::on_driver_done(const Event& event) {
  PendingDriverResult& pending = driver_results_[event.arg];
  const AddressId id = pending.ticket.process;
  Process& process = processes_[id];
  if (process.up && process.incarnation == pending.ticket.incarnation) {
    record(EventKind::driver_done, id, 0, pending.ticket.op_id);
    trace_.add_result(pending.result);
    const Input input{DriverDone{.now = process.clock.local_at(now_),
                                 .op_id = pending.ticket.op_id,
                                 .result = std::move(pending.result)}};
    driver_results_.release(event.arg);
    step_component(id, input);
    return;
  }
  driver_results_.release(event.arg);
}

void Simulation::on_action(const Event& event) {
  Action action = std::move(actions_[event.arg]);
  actions_[event.arg] = nullptr;
  actions_.release(event.arg);
  record(EventKind::action, 0, 0, event.seq);
  try {
    action(*this);
  } catch (const AssertionFailure& failure) {
    report_violation("assertion", failure.what(), {});
  }
}

void Simulation::step_component(AddressId id, const Input& input) {
  Process& process = processes_[id];
  OMNI_ASSERT(process.up && process.component != nullptr, "stepping a process that is down");
  last_stepped_ = id;
  last_stepped_event_ = counters_.events;
  outputs_.clear();
  try {
    process.component->step(input, outputs_);
  } catch (const AssertionFailure& failure) {
    report_violation("assertion", failure.what(), {book_.address_of(id)});
    return;
  } catch (const std::exception& error) {
    report_violation("exception", error.what(), {book_.address_of(id)});
    return;
  }
  execute_outputs(id);
}

}  // namespace omni::sim
