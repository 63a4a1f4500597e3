#pragma once
// A user of the plane's resource store, in simulation: one of a scenario's `clients:`. It reads,
// writes and compare-and-sets integer registers shared with the other clients, one operation
// at a time, and records each invocation and completion in a history (docs/histories.md) that
// the run checks for linearizability. What it records is what it can prove:
// - ok / fail only from an answer that says so;
// - `info` for a write whose outcome is unknown (UNKNOWN, or no answer within the timeout),
//   after which it goes on as a new process, as Jepsen's clients do.
// A compare-and-set is a read followed by a write conditional on the revision read, retried
// from the read on a conflict: it succeeds only if the value it compared is still the value it
// replaces, and fails only on a read that saw another value.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/core/rng.h"
#include "model/core/step.h"
#include "sim/lincheck/history.h"
#include "sim/scenario/scenario.h"

namespace omni::sim {

// Shared by a run's clients: the history, in the order the simulator stepped them.
struct HistorySink {
  std::vector<lincheck::Event> events;
  std::int64_t next_process = 0;
};

inline constexpr std::string_view kClientPrefix = "client:";
std::string client_key(int register_index);  // "/registers/N"

class StoreClient final : public Component {
 public:
  StoreClient(int index, std::vector<Address> replicas, const ClientsSpec& spec, Rng rng,
              HistorySink& history);
  void step(const Input& input, Outputs& out) override;

 private:
  enum class Phase { idle, reading, writing };
  struct Op {
    ClientOp kind = ClientOp::read;
    int key = 0;
    std::int64_t value = 0;     // write: the value; cas: the new value
    std::int64_t expected = 0;  // cas
    Time deadline{};
  };

  void start_op(Outputs& out);
  void on_reply(const v1::StoreReply& reply, Outputs& out);
  void on_read(const v1::StoreReply& reply, Outputs& out);
  void on_write(const v1::StoreReply& reply);
  void send_read(Outputs& out);
  void send_write(std::uint64_t expected_revision, Outputs& out);
  void send(v1::StoreRequest request, Outputs& out);
  void record(lincheck::EventType type, const lincheck::Value& read_value = {});
  void complete(lincheck::EventType type, const lincheck::Value& read_value = {});
  void give_up();  // the outcome is unknown: `info`, and a new process
  void schedule_next();
  void follow_hint(const v1::StoreReply& reply);
  void next_replica();

  const int index_;
  const std::vector<Address> replicas_;
  const ClientsSpec spec_;
  Rng rng_;
  HistorySink& history_;
  std::int64_t process_ = 0;
  std::size_t replica_ = 0;  // in replicas_, when not following a hint
  Address target_;
  Phase phase_ = Phase::idle;
  Op op_;
  std::uint64_t in_flight_id_ = 0;
  std::uint64_t write_revision_ = 0;  // what the cas's conditional put expects
  std::optional<Time> resend_at_;
  std::uint64_t next_id_ = 1;
  std::int64_t next_value_ = 1;
  std::vector<std::optional<std::int64_t>> last_seen_;  // by register: for a cas that may win
  Time now_{};
  Time next_op_at_{};
};

}  // namespace omni::sim
