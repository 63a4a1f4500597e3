#pragma once
// The commands a user runs against a cluster that manages itself, all through the plane's
// leader with the admin's certificate: `omni status`, `omni get`, `omni events`, `omni apply`,
// `omni delete`.
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "model/proto/envelope.pb.h"

namespace omni::cli {

int run_status(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_get(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_apply(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_events(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_dashboard(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
int run_delete(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// What `omni events` reads of a status reply (exposed for its tests).
// An event as a person reads it: when it happened by this machine's clock (now, less its age
// by the leader's clock), what kind, what.
struct ShownEvent {
  std::uint64_t seq = 0;
  std::chrono::system_clock::time_point at;
  std::string kind;
  std::string text;
};
// An event's age by the leader's clock, from 0 to a century: the two times come from the wire,
// and their difference, or the age as system_clock nanoseconds, must not overflow.
std::int64_t age_ms(std::int64_t now_ms, std::int64_t at_ms);
// Where `omni events -f` is: the leader it last read and the newest event it printed. A new
// leader's log is its own, so after a change only what it saw after the last print is new; and
// so is the log of the same replica leading at another term, which may have restarted (its
// log, in memory, counts from 1 again).
struct EventCursor {
  std::string leader;
  std::uint64_t term = 0;
  std::uint64_t seq = 0;
  std::chrono::system_clock::time_point at;
  bool started = false;
};
// The events of `r` that `omni events -f` has not printed yet.
std::vector<ShownEvent> fresh_events(const v1::StatusReply& r, const EventCursor& cursor);

}  // namespace omni::cli
