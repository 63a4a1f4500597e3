#pragma once
// The person at the keyboard, in simulation: a client of the plane's resource store with the
// `admin` identity that carries out a scenario's `apply:` and `delete_app:` as `omni apply` and
// `omni delete app` would: read the app, change what the fault names, write it back
// conditionally on the revision it read, and start over on a conflict. It finds the leader by
// following NOT_LEADER hints and moves to another replica when one does not answer.
#include <cstdint>
#include <deque>
#include <string>
#include <variant>
#include <vector>

#include "model/config/parse.h"
#include "model/core/step.h"

namespace omni::sim {

class AdminClient final : public Component {
 public:
  using Op = std::variant<config::AppPatch, std::string>;  // apply, or delete this app

  explicit AdminClient(std::vector<Address> replicas);
  void step(const Input& input, Outputs& out) override;

  void enqueue(Op op) { queue_.push_back(std::move(op)); }
  std::uint64_t done() const { return done_; }
  std::uint64_t failed() const { return failed_; }  // refused for good (e.g. no image)

 private:
  enum class Phase { idle, reading, writing };
  void next_request(Outputs& out);
  void on_reply(const v1::StoreReply& reply, Outputs& out);
  void on_read(const v1::StoreReply& reply, Outputs& out);
  void send(v1::StoreRequest request, Outputs& out);
  void finish(bool ok);
  void try_another_replica();

  std::vector<Address> replicas_;
  std::size_t replica_ = 0;
  Address target_;
  std::deque<Op> queue_;
  Phase phase_ = Phase::idle;
  v1::StoreRequest in_flight_;
  Time now_{};
  Time deadline_{};
  Time resume_at_{};
  std::uint64_t next_id_ = 1;
  std::uint64_t done_ = 0;
  std::uint64_t failed_ = 0;
};

}  // namespace omni::sim
