#include "sim/trace.h"

#include <cstring>

#include "model/core/assert.h"

namespace omni::sim {
namespace {

constexpr std::uint64_t kMul1 = 0x9e3779b97f4a7c15ULL;
constexpr std::uint64_t kMul2 = 0xff51afd7ed558ccdULL;

constexpr std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

}  // namespace

std::string_view name_of(EventKind kind) {
  switch (kind) {
    case EventKind::start:
      return "start";
    case EventKind::deliver:
      return "deliver";
    case EventKind::send:
      return "send";
    case EventKind::drop:
      return "drop";
    case EventKind::tick:
      return "tick";
    case EventKind::persist:
      return "persist";
    case EventKind::persist_fail:
      return "persist_fail";
    case EventKind::driver_call:
      return "driver_call";
    case EventKind::driver_done:
      return "driver_done";
    case EventKind::crash:
      return "crash";
    case EventKind::exit:
      return "exit";
    case EventKind::fault:
      return "fault";
    case EventKind::action:
      return "action";
  }
  return "?";
}

std::string_view name_of(DropReason reason) {
  switch (reason) {
    case DropReason::random:
      return "random";
    case DropReason::link_blocked:
      return "link_blocked";
    case DropReason::destination_down:
      return "destination_down";
    case DropReason::unparseable:
      return "unparseable";
  }
  return "?";
}

// The word is scrambled off the state's dependency chain; on the chain are only an xor, a rotate
// and a multiply, so consecutive words (a message's bytes) overlap in the pipeline: the hash was
// 7% of the Raft workload when every step of the chain also carried the scrambling.
void TraceHash::mix(std::uint64_t word) {
  const std::uint64_t scrambled = rotl(word * kMul2, 31);
  state_ = rotl(state_ ^ scrambled, 29) * kMul1;
}

void TraceHash::mix_bytes(std::string_view bytes) {
  const std::size_t size_before = bytes.size();
  mix(size_before);
  while (bytes.size() >= 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, bytes.data(), 8);  // little-endian hosts only; asserted in tests
    mix(word);
    bytes.remove_prefix(8);
  }
  std::uint64_t tail = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    tail |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  }
  mix(tail);
  OMNI_ASSERT(bytes.size() < 8);
}

void Trace::add(const TraceEvent& event) {
  OMNI_ASSERT(ns_of(event.at) >= 0, "events happen after the epoch");
  hash_.mix(static_cast<std::uint64_t>(ns_of(event.at)));
  hash_.mix((static_cast<std::uint64_t>(event.kind) << 56) ^
            (static_cast<std::uint64_t>(event.process) << 24) ^ event.peer);
  hash_.mix(event.detail);
  ++event_count_;
  if (record_events_) events_.push_back(event);
  OMNI_ASSERT(!record_events_ || events_.size() == event_count_);
}

void Trace::add_op(const DriverOp& op) {
  hash_.mix(op.index());
  if (const auto* vm = std::get_if<VmOp>(&op)) {
    hash_.mix(static_cast<std::uint64_t>(vm->kind));
    hash_.mix_bytes(vm->node);
    hash_.mix_bytes(vm->name);
    hash_.mix(static_cast<std::uint64_t>(vm->cpu_millis));
    hash_.mix(static_cast<std::uint64_t>(vm->memory_bytes));
    hash_.mix(vm->metadata.size());
    for (const auto& [key, value] : vm->metadata) {  // a std::map: in key order, every time
      hash_.mix_bytes(key);
      hash_.mix_bytes(value);
    }
    if (vm->force) hash_.mix(1);  // only when set: the runs without it keep their hashes
  } else {
    const auto& container = std::get<ContainerOp>(op);
    hash_.mix(static_cast<std::uint64_t>(container.kind));
    hash_.mix_bytes(container.name);
    hash_.mix_bytes(container.image);
    hash_.mix(container.args.size());
    for (const auto& arg : container.args) hash_.mix_bytes(arg);
    hash_.mix(static_cast<std::uint64_t>(container.cpu_millis));
    hash_.mix(static_cast<std::uint64_t>(container.memory_bytes));
    // Only when there is one: the runs without an archive keep the hashes they had before it.
    if (!container.archive.empty()) hash_.mix_bytes(container.archive);
  }
}

void Trace::add_result(const DriverResult& result) {
  hash_.mix(static_cast<std::uint64_t>(result.status));
  hash_.mix_bytes(result.message);
  hash_.mix(result.names.size());
  for (const auto& name : result.names) hash_.mix_bytes(name);
  hash_.mix(result.running.size());
  for (const auto& name : result.running) hash_.mix_bytes(name);
}

void Trace::add_records(const std::vector<std::string>& records) {
  hash_.mix(records.size());
  for (const auto& record : records) hash_.mix_bytes(record);
}

}  // namespace omni::sim
