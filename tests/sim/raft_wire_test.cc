#include "sim/net/raft_wire.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <limits>

namespace omni::sim {
namespace {

// Values that take every length of varint, zero (left out) among them.
rc::Gen<std::uint64_t> any_u64() {
  return rc::gen::oneOf(rc::gen::just<std::uint64_t>(0), rc::gen::inRange<std::uint64_t>(1, 300),
                        rc::gen::arbitrary<std::uint64_t>(),
                        rc::gen::just(std::numeric_limits<std::uint64_t>::max()));
}

v1::Envelope scalar_raft_envelope() {
  v1::Envelope e;
  e.set_seq(*any_u64());
  v1::RaftMessage& m = *e.mutable_raft();
  m.set_term(*any_u64());
  // proto3 enums are open: a value outside the declared ones, negative too, is kept and sent.
  m.set_type(static_cast<v1::RaftMessageType>(
      *rc::gen::oneOf(rc::gen::inRange(0, 12), rc::gen::arbitrary<std::int32_t>())));
  m.set_log_term(*any_u64());
  m.set_index(*any_u64());
  m.set_commit(*any_u64());
  m.set_reject(*rc::gen::arbitrary<bool>());
  m.set_reject_hint(*any_u64());
  m.set_read_seq(*any_u64());
  m.set_transfer(*rc::gen::arbitrary<bool>());
  m.set_recovering(*rc::gen::arbitrary<bool>());
  m.set_append_seq(*any_u64());
  return e;
}

TEST(RaftWire, KnowsEveryFieldOfTheGeneratedSchema) {
  // Fails when a field is added to RaftMessage or beside Envelope's body: raft_wire.cc must
  // learn it (until then every message is encoded by libprotobuf, correct but slower).
  EXPECT_TRUE(raft_wire_knows_the_schema());
}

RC_GTEST_PROP(RaftWire, WritesTheBytesLibprotobufWrites, ()) {
  const v1::Envelope e = scalar_raft_envelope();
  RaftWire wire;
  v1::Envelope earlier = scalar_raft_envelope();  // what an earlier call left in the buffer
  RC_ASSERT(wire.encode(earlier).has_value());
  const auto encoded = wire.encode(e);
  RC_ASSERT(encoded.has_value());
  const std::string fast(*encoded);
  RC_ASSERT(fast == e.SerializeAsString());
  v1::Envelope parsed;
  RC_ASSERT(parsed.ParseFromString(fast));
  RC_ASSERT(parsed.SerializeAsString() == fast);
}

TEST(RaftWire, AnEmptyRaftBodyIsStillWritten) {
  v1::Envelope e;
  e.mutable_raft();
  RaftWire wire;
  const auto encoded = wire.encode(e);
  ASSERT_TRUE(encoded.has_value());
  const std::string fast(*encoded);
  EXPECT_EQ(fast, e.SerializeAsString());
  EXPECT_EQ(fast, std::string("\xa2\x01\x00", 3));
}

TEST(RaftWire, LeavesEveryOtherMessageToLibprotobuf) {
  RaftWire wire;
  v1::Envelope hello;
  hello.mutable_hello();
  EXPECT_FALSE(wire.encode(hello).has_value());
  EXPECT_FALSE(wire.encode(v1::Envelope{}).has_value());

  v1::Envelope append;
  append.mutable_raft()->add_entries()->set_index(3);
  EXPECT_FALSE(wire.encode(append).has_value());
  v1::Envelope snapshot;
  snapshot.mutable_raft()->mutable_snapshot();
  EXPECT_FALSE(wire.encode(snapshot).has_value());
  v1::Envelope request;
  request.mutable_raft()->mutable_client_request();
  EXPECT_FALSE(wire.encode(request).has_value());
  v1::Envelope reply;
  reply.mutable_raft()->mutable_client_reply();
  EXPECT_FALSE(wire.encode(reply).has_value());

  // Bytes parsed from a newer peer may carry fields this build does not know.
  v1::RaftMessage unknown;
  unknown.set_term(2);
  std::string with_unknown = unknown.SerializeAsString() + std::string("\xf8\x06\x01", 3);
  v1::Envelope from_newer;
  ASSERT_TRUE(from_newer.mutable_raft()->ParseFromString(with_unknown));
  EXPECT_FALSE(wire.encode(from_newer).has_value());
}

}  // namespace
}  // namespace omni::sim
