// Executing a component's outputs, in order: Send -> network, Persist -> disk,
// WakeAt -> a Tick, DriverCall -> the driver handler, Exit -> the process stops.
#include <algorithm>
#include <cstring>

#include "model/core/assert.h"
#include "model/root/root.h"
#include "sim/simulation.h"

namespace omni::sim {

void Simulation::execute_outputs(AddressId id) {
  const std::uint64_t incarnation = processes_[id].incarnation;
  Duration after_sync{0};            // the syncs of this step so far
  for (Output& output : outputs_) {  // a Send's envelope moves onto the wire
    // A failed persist or an Exit ends the process: nothing after it takes effect.
    if (!processes_[id].up || processes_[id].incarnation != incarnation) break;
    switch (output.index()) {
      case 0:
        do_send(id, std::get<Send>(output), after_sync);  // outputs_ is cleared below
        break;
      case 1:
        do_driver_call(id, std::get<DriverCall>(output));
        break;
      case 2:
        if (do_persist(id, std::get<Persist>(output)) && std::get<Persist>(output).sync)
          after_sync += config_.sync_latency;
        break;
      case 3:
        do_wake(id, std::get<WakeAt>(output).at);
        break;
      case 4:
        do_exit(id);
        break;
      default:
        OMNI_ASSERT(false, "unknown output");
    }
  }
  outputs_.clear();
  OMNI_ASSERT(outputs_.empty());
}

void Simulation::do_send(AddressId id, Send& send, Duration after_sync) {
  OMNI_ASSERT(!send.to.empty(), "a Send needs a destination");
  // Progress is for a person, as a real host prints it: in the trace, never on the network, so
  // what a person is told cannot change the schedule.
  if (send.to == root::kProgressAddress) {
    record(EventKind::send, id, id, static_cast<std::uint64_t>(send.envelope.body_case()));
    return;
  }
  const AddressId to = destination_id(id, send.to);
  const std::uint64_t slot = messages_.acquire();
  InFlight& message = messages_[slot];
  message.from = id;
  message.to = to;
  message.copies_left = 1;
  ++counters_.messages_sent;
  record(EventKind::send, id, to, static_cast<std::uint64_t>(send.envelope.body_case()));
  if (const auto bytes = raft_wire_.encode(send.envelope)) {
    trace_.add_bytes(*bytes);
  } else {
    const bool serialized = send.envelope.SerializeToString(&message.bytes);
    OMNI_ASSERT(serialized, "an envelope failed to serialize");
    trace_.add_bytes(message.bytes);
  }
  message.envelope.Swap(&send.envelope);  // send.envelope is not read again
  message.has_envelope = true;
  if (links_.blocked(book_.location_of(id), book_.location_of(to))) {
    drop_message(message, DropReason::link_blocked);
    release_message(slot);
    return;
  }
  const DeliveryPlan plan = plan_delivery(network_, net_rng_);
  if (plan.dropped) {
    drop_message(message, DropReason::random);
    release_message(slot);
    return;
  }
  if (plan.copies == 2) ++counters_.messages_duplicated;
  if (plan.reordered) ++counters_.messages_reordered;
  message.copies_left = plan.copies;
  for (std::uint32_t i = 0; i < plan.copies; ++i)
    enqueue_message(id, to, slot, plan.delays[i] + after_sync);
}

std::optional<Simulation::NameKey> Simulation::NameKey::of(const Address& name) {
  const std::size_t size = name.size();
  if (size > 16) return std::nullopt;
  NameKey key{.size = size};
  if (size < 8) {
    std::memcpy(&key.first, name.data(), size);  // the rest of the word stays zero
  } else {
    std::memcpy(&key.first, name.data(), 8);
    std::memcpy(&key.last, name.data() + size - 8, 8);  // bytes 8..size-1, and some again
  }
  OMNI_ASSERT(key.size == size && (size >= 8 || key.last == 0));
  return key;
}

AddressId Simulation::destination_id(AddressId sender, const Address& to) {
  RecentDestinations& recent = processes_[sender].destinations;
  // A long name is not remembered.
  const std::optional<NameKey> key = recent.resting() ? std::nullopt : NameKey::of(to);
  if (!key) return intern(to);
  if (const std::optional<AddressId> id = recent.recall(*key)) return *id;
  const AddressId id = intern(to);  // may grow processes_: `recent` is not used after this
  processes_[sender].destinations.remember(*key, id);
  OMNI_ASSERT(id < processes_.size(), "a destination is a process's address");
  return id;
}

void Simulation::enqueue_message(AddressId from, AddressId to, std::uint64_t slot, Duration delay) {
  OMNI_ASSERT(delay >= 0ns, "a message cannot arrive before it was sent");
  OMNI_ASSERT(from < processes_.size() && to < processes_.size());
  queue_.push(
      Event{.at_ns = ns_of(now_ + delay), .type = EventType::deliver, .process = to, .arg = slot});
}

bool Simulation::do_persist(AddressId id, const Persist& persist) {
  Process& process = processes_[id];
  OMNI_ASSERT(process.up);
  const PersistStatus status = process.disk.persist(persist.record, persist.sync, persist.replace);
  if (status == PersistStatus::eio) {
    ++counters_.persist_failures;
    record(EventKind::persist_fail, id, 0, persist.record.size());
    crash(book_.address_of(id));  // fail-stop, as a real host does on an fsync error
    notify_exit(id);
    OMNI_ASSERT(!processes_[id].up);
    return false;
  }
  ++counters_.persists;
  record(EventKind::persist, id, 0,
         (persist.record.size() << 2) | (persist.sync ? 1U : 0U) | (persist.replace ? 2U : 0U));
  trace_.add_bytes(persist.record);
  return true;
}

void Simulation::do_wake(AddressId id, Time at_local) {
  Process& process = processes_[id];
  auto& wakes = process.pending_wakes_local_ns;
  const std::int64_t target_ns = ns_of(at_local);
  if (std::find(wakes.begin(), wakes.end(), target_ns) != wakes.end()) {
    ++counters_.wakes_coalesced;
    return;
  }
  wakes.push_back(target_ns);
  const Time local_now = process.clock.local_at(now_);
  const Duration wait = process.clock.sim_duration_for(at_local - local_now);
  OMNI_ASSERT(wait >= 0ns);
  queue_.push(Event{.at_ns = ns_of(now_ + wait),
                    .type = EventType::tick,
                    .process = id,
                    .arg = process.incarnation,
                    .arg2 = target_ns});
}

void Simulation::do_driver_call(AddressId id, const DriverCall& call) {
  OMNI_ASSERT(driver_ != nullptr);
  ++counters_.driver_calls;
  record(EventKind::driver_call, id, 0, call.op_id);
  trace_.add_op(call.op);
  const DriverTicket ticket{
      .process = id, .incarnation = processes_[id].incarnation, .op_id = call.op_id};
  driver_->call(book_.address_of(id), ticket, call.op, *this);
}

void Simulation::complete(const DriverTicket& ticket, Duration delay, DriverResult result) {
  OMNI_ASSERT(delay >= 0ns, "a driver cannot answer in the past");
  OMNI_ASSERT(ticket.process < processes_.size(), "a driver answered an unknown process");
  const std::uint64_t slot = driver_results_.acquire();
  driver_results_[slot] = PendingDriverResult{.ticket = ticket, .result = std::move(result)};
  queue_.push(Event{.at_ns = ns_of(now_ + delay),
                    .type = EventType::driver_done,
                    .process = ticket.process,
                    .arg = slot});
}

void Simulation::do_exit(AddressId id) {
  OMNI_ASSERT(processes_[id].up);
  stop_process(id);  // a clean stop: the OS keeps what was written, synced or not
  ++counters_.exits;
  record(EventKind::exit, id, 0, processes_[id].incarnation);
  notify_exit(id);
  OMNI_ASSERT(!processes_[id].up);
}

// Later, as an event: the listener may stop other processes (a VM whose init died), which must
// not happen while this process's outputs are being executed.
void Simulation::notify_exit(AddressId id) {
  OMNI_ASSERT(!processes_[id].up);
  if (!exit_listener_) return;
  const Address address = book_.address_of(id);
  after(0ns, [address](Simulation& sim) {
    if (sim.exit_listener_) sim.exit_listener_(address);
  });
}

}  // namespace omni::sim
