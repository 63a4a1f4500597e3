#include "sim/cluster/store_client.h"

#include <charconv>

#include "model/core/assert.h"

namespace omni::sim {
namespace {

constexpr Duration kResendAfterNoLeader = 50ms;  // no hint: another replica, not at once
constexpr Duration kResendAfterUnavailable = 100ms;
constexpr std::int64_t kValuesPerClient = 1'000'000'000;  // values are unique across clients

lincheck::Value value_of(const v1::StoreReply& reply) {
  if (reply.status() == v1::STORE_STATUS_NOT_FOUND || reply.objects_size() != 1) return {};
  const std::string& bytes = reply.objects(0).value();
  std::int64_t number = 0;
  const auto [end, error] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), number);
  if (error == std::errc{} && end == bytes.data() + bytes.size()) return number;
  return bytes;  // not one of ours: the checker will say it was never written
}

lincheck::Function function_of(ClientOp op) {
  switch (op) {
    case ClientOp::read:
      return lincheck::Function::read;
    case ClientOp::write:
      return lincheck::Function::write;
    case ClientOp::cas:
      return lincheck::Function::cas;
  }
  return lincheck::Function::read;
}

}  // namespace

std::string client_key(int register_index) {
  OMNI_ASSERT(register_index >= 0);
  return "/registers/" + std::to_string(register_index);
}

StoreClient::StoreClient(int index, std::vector<Address> replicas, const ClientsSpec& spec, Rng rng,
                         HistorySink& history)
    : index_(index),
      replicas_(std::move(replicas)),
      spec_(spec),
      rng_(rng),
      history_(history),
      last_seen_(static_cast<std::size_t>(spec.keys)) {
  OMNI_ASSERT(!replicas_.empty() && spec_.count >= 1 && spec_.keys >= 1);
  OMNI_ASSERT(!spec_.ops.empty() && spec_.ops_per_s > 0);
  replica_ = static_cast<std::size_t>(index_) % replicas_.size();
  target_ = replicas_[replica_];
}

void StoreClient::step(const Input& input, Outputs& out) {
  now_ = now_of(input);
  if (std::holds_alternative<Start>(input)) {
    process_ = history_.next_process++;
    phase_ = Phase::idle;
    schedule_next();
  } else if (const auto* d = std::get_if<Deliver>(&input)) {
    if (phase_ != Phase::idle && d->envelope.has_store_reply() &&
        d->envelope.store_reply().id() == in_flight_id_)
      on_reply(d->envelope.store_reply(), out);
  }
  if (phase_ != Phase::idle && now_ >= op_.deadline) give_up();
  if (phase_ != Phase::idle && resend_at_ && now_ >= *resend_at_) {
    resend_at_.reset();
    phase_ == Phase::reading ? send_read(out) : send_write(write_revision_, out);
  }
  if (phase_ == Phase::idle && now_ >= next_op_at_) start_op(out);
  Time wake = phase_ == Phase::idle ? next_op_at_ : op_.deadline;
  if (phase_ != Phase::idle && resend_at_) wake = std::min(wake, *resend_at_);
  push_wake(out, wake);
  OMNI_ASSERT(phase_ == Phase::idle || op_.deadline > now_);
  OMNI_ASSERT(phase_ != Phase::idle || next_op_at_ > now_);
}

void StoreClient::start_op(Outputs& out) {
  OMNI_ASSERT(phase_ == Phase::idle);
  op_ = Op{};
  op_.kind = spec_.ops[rng_.below(spec_.ops.size())];
  op_.key = static_cast<int>(rng_.below(static_cast<std::uint64_t>(spec_.keys)));
  op_.deadline = now_ + spec_.timeout;
  const auto& seen = last_seen_[static_cast<std::size_t>(op_.key)];
  if (op_.kind == ClientOp::cas && !seen) op_.kind = ClientOp::read;  // nothing to compare yet
  if (op_.kind != ClientOp::read) op_.value = (index_ + 1) * kValuesPerClient + next_value_++;
  if (op_.kind == ClientOp::cas) op_.expected = *seen;
  record(lincheck::EventType::invoke);
  resend_at_.reset();
  if (op_.kind == ClientOp::write) {
    send_write(0, out);
  } else {
    send_read(out);
  }
  OMNI_ASSERT(phase_ != Phase::idle);
  OMNI_ASSERT(next_value_ < kValuesPerClient);
}

void StoreClient::on_reply(const v1::StoreReply& reply, Outputs& out) {
  OMNI_ASSERT(phase_ != Phase::idle);
  switch (reply.status()) {
    case v1::STORE_STATUS_NOT_LEADER:  // that replica did nothing
    {
      const bool hinted = !reply.leader_hint().empty() && reply.leader_hint() != target_;
      follow_hint(reply);
      if (!hinted) {
        resend_at_ = now_ + kResendAfterNoLeader;
      } else {
        phase_ == Phase::reading ? send_read(out) : send_write(write_revision_, out);
      }
      return;
    }
    case v1::STORE_STATUS_UNAVAILABLE:  // nothing was done: ask again a little later
      resend_at_ = now_ + kResendAfterUnavailable;
      return;
    case v1::STORE_STATUS_UNKNOWN:
      give_up();
      return;
    case v1::STORE_STATUS_CONFLICT:  // a cas lost a race: compare again
      send_read(out);
      return;
    case v1::STORE_STATUS_INVALID:  // refused before anything was done
      complete(lincheck::EventType::fail);
      return;
    default:
      break;
  }
  if (phase_ == Phase::reading) {
    on_read(reply, out);
  } else {
    complete(reply.status() == v1::STORE_STATUS_OK ? lincheck::EventType::ok
                                                   : lincheck::EventType::fail);
  }
}

void StoreClient::on_read(const v1::StoreReply& reply, Outputs& out) {
  OMNI_ASSERT(phase_ == Phase::reading && op_.kind != ClientOp::write);
  const lincheck::Value value = value_of(reply);
  const auto* number = std::get_if<std::int64_t>(&value);
  auto& seen = last_seen_[static_cast<std::size_t>(op_.key)];
  if (number) seen = *number;
  if (op_.kind == ClientOp::read) {
    complete(lincheck::EventType::ok, value);
    return;
  }
  if (!number || *number != op_.expected) {
    complete(lincheck::EventType::fail);  // compared, and the value was another
    return;
  }
  send_write(reply.objects(0).revision(), out);
}

void StoreClient::send_read(Outputs& out) {
  phase_ = Phase::reading;
  v1::StoreRequest r;
  r.mutable_get()->set_key(client_key(op_.key));
  send(std::move(r), out);
}

// A write op's put is unconditional; a cas's is conditional on the revision its read saw.
void StoreClient::send_write(std::uint64_t expected_revision, Outputs& out) {
  OMNI_ASSERT(op_.kind != ClientOp::read);
  phase_ = Phase::writing;
  write_revision_ = expected_revision;
  v1::StoreRequest r;
  r.mutable_put()->set_key(client_key(op_.key));
  r.mutable_put()->set_value(std::to_string(op_.value));
  if (op_.kind == ClientOp::cas) {
    OMNI_ASSERT(expected_revision > 0, "a cas compares with a value that exists");
    r.mutable_put()->set_conditional(true);
    r.mutable_put()->set_expected_revision(expected_revision);
  }
  send(std::move(r), out);
}

void StoreClient::send(v1::StoreRequest request, Outputs& out) {
  in_flight_id_ = next_id_++;
  request.set_id(in_flight_id_);
  v1::Envelope e;
  *e.mutable_store_request() = std::move(request);
  out.push_back(Send{target_, std::move(e)});
}

void StoreClient::record(lincheck::EventType type, const lincheck::Value& read_value) {
  lincheck::Event e;
  e.process = process_;
  e.type = type;
  e.f = function_of(op_.kind);
  e.key = client_key(op_.key);
  if (op_.kind == ClientOp::cas) {
    e.expected = op_.expected;
    e.desired = op_.value;
  } else if (op_.kind == ClientOp::write) {
    e.value = op_.value;
  } else {
    e.value = read_value;
  }
  e.time_ns = now_.time_since_epoch().count();
  history_.events.push_back(std::move(e));
}

void StoreClient::complete(lincheck::EventType type, const lincheck::Value& read_value) {
  OMNI_ASSERT(phase_ != Phase::idle && type != lincheck::EventType::invoke);
  record(type, read_value);
  phase_ = Phase::idle;
  schedule_next();
}

void StoreClient::give_up() {
  OMNI_ASSERT(phase_ != Phase::idle);
  record(lincheck::EventType::info);
  process_ = history_.next_process++;
  next_replica();  // the one it asked may be gone
  phase_ = Phase::idle;
  schedule_next();
}

void StoreClient::schedule_next() {
  const auto mean = std::chrono::duration<double>(1.0 / spec_.ops_per_s);
  const auto gap = std::chrono::duration_cast<Duration>(mean * (0.5 + rng_.unit()));
  next_op_at_ = now_ + std::max(gap, Duration{1ms});
  OMNI_ASSERT(next_op_at_ > now_);
}

// A replacement replica has a new number: a hint may name one the client was not given.
void StoreClient::follow_hint(const v1::StoreReply& reply) {
  if (!reply.leader_hint().empty() && reply.leader_hint() != target_) {
    target_ = reply.leader_hint();
    return;
  }
  next_replica();
}

void StoreClient::next_replica() {
  replica_ = (replica_ + 1) % replicas_.size();
  target_ = replicas_[replica_];
}

}  // namespace omni::sim
