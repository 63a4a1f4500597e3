#include "sim/net/raft_wire.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <set>

#include "model/core/assert.h"
#include "model/core/wire.h"

namespace omni::sim {
namespace {

// Protocol buffers' wire format: a key is (field number << 3 | wire type), then the value.
constexpr std::uint32_t kVarint = 0;
constexpr std::uint32_t kLengthDelimited = 2;
constexpr int kEnvelopeSeq = 1;
constexpr int kEnvelopeRaft = 20;

// The fields of RaftMessage this encoder writes, by number; 5, 11, 12 and 13 (entries, snapshot,
// client request and reply) are those whose presence sends the message to libprotobuf.
constexpr std::array<int, 15> kRaftFields = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

// Writes varints forward from `at`; the caller sizes the buffer (at most 11 bytes a field).
class Writer {
 public:
  explicit Writer(char* at) : start_(at), at_(at) {}
  void varint(std::uint64_t value) { at_ = write_varint(at_, value); }
  void key(int field, std::uint32_t wire_type) {
    varint((static_cast<std::uint64_t>(field) << 3) | wire_type);
  }
  // proto3 leaves a scalar at its default (zero, false) out.
  void uint64_field(int field, std::uint64_t value) {
    if (value == 0) return;
    key(field, kVarint);
    varint(value);
  }
  // An enum is an int32 on the wire: a negative one is sign-extended to ten bytes.
  void enum_field(int field, int value) {
    uint64_field(field, static_cast<std::uint64_t>(static_cast<std::int64_t>(value)));
  }
  void bool_field(int field, bool value) { uint64_field(field, value ? 1 : 0); }
  std::size_t written() const { return static_cast<std::size_t>(at_ - start_); }

 private:
  char* start_;
  char* at_;
};

// Fields of a newer schema, kept from parsed bytes, are written back by libprotobuf. The
// reflection objects are looked up once: GetReflection() goes through the descriptor pool.
template <typename M>
bool no_unknown_fields(const M& m) {
  static const google::protobuf::Reflection* const reflection = M::GetReflection();
  return reflection->GetUnknownFields(m).empty();
}

bool is_scalar(const v1::RaftMessage& m) {
  return m.entries_size() == 0 && !m.has_snapshot() && !m.has_client_request() &&
         !m.has_client_reply() && no_unknown_fields(m);
}

void write_raft_message(const v1::RaftMessage& m, Writer& out) {
  out.uint64_field(1, m.term());
  out.enum_field(2, m.type());
  out.uint64_field(3, m.log_term());
  out.uint64_field(4, m.index());
  out.uint64_field(6, m.commit());
  out.bool_field(7, m.reject());
  out.uint64_field(8, m.reject_hint());
  out.uint64_field(9, m.read_seq());
  out.bool_field(10, m.transfer());
  out.bool_field(14, m.recovering());
  out.uint64_field(15, m.append_seq());
}

bool raft_message_fields_known() {
  const auto* descriptor = v1::RaftMessage::descriptor();
  std::set<int> numbers;
  for (int i = 0; i < descriptor->field_count(); ++i)
    numbers.insert(descriptor->field(i)->number());
  return numbers == std::set<int>(kRaftFields.begin(), kRaftFields.end());
}

// seq, and a oneof `body` of which `raft` is one: anything else could be set beside the body.
bool envelope_fields_known() {
  const auto* descriptor = v1::Envelope::descriptor();
  const auto* raft = descriptor->FindFieldByNumber(kEnvelopeRaft);
  const auto* seq = descriptor->FindFieldByNumber(kEnvelopeSeq);
  if (raft == nullptr || seq == nullptr || raft->containing_oneof() == nullptr ||
      raft->message_type() != v1::RaftMessage::descriptor())
    return false;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const auto* field = descriptor->field(i);
    if (field != seq && field->containing_oneof() != raft->containing_oneof()) return false;
  }
  return true;
}

}  // namespace

bool raft_wire_knows_the_schema() {
  static const bool known = raft_message_fields_known() && envelope_fields_known();
  return known;
}

std::optional<std::string_view> RaftWire::encode(const v1::Envelope& envelope) {
  if (envelope.body_case() != v1::Envelope::kRaft || !no_unknown_fields(envelope))
    return std::nullopt;
  const v1::RaftMessage& m = envelope.raft();
  if (!is_scalar(m) || !raft_wire_knows_the_schema()) return std::nullopt;
  char* const body = buffer_.data() + kFrontBytes;
  Writer body_writer(body);
  write_raft_message(m, body_writer);
  const std::size_t body_bytes = body_writer.written();
  OMNI_ASSERT(body_bytes <= kBodyBytes, "a scalar Raft message outgrew its buffer");
  std::array<char, kFrontBytes> front;
  Writer front_writer(front.data());
  front_writer.uint64_field(kEnvelopeSeq, envelope.seq());
  front_writer.key(kEnvelopeRaft, kLengthDelimited);
  front_writer.varint(body_bytes);
  const std::size_t front_bytes = front_writer.written();
  OMNI_ASSERT(front_bytes <= kFrontBytes, "an Envelope's front outgrew its buffer");
  std::memcpy(body - front_bytes, front.data(), front_bytes);
  return std::string_view(body - front_bytes, front_bytes + body_bytes);
}

}  // namespace omni::sim
