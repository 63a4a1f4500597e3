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

void TraceHash::mix(std::uint64_t word) {
  state_ = rotl((state_ ^ word) * kMul1, 29) * kMul2;
  state_ ^= state_ >> 32;
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

}  // namespace omni::sim
