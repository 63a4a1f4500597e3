#pragma once
// The wire bytes of the simulator's commonest message, written without libprotobuf: an Envelope
// whose body is a RaftMessage of scalar fields only (heartbeats, votes, answers; no entries, no
// snapshot, no client request or reply). Every message a simulation sends is encoded and hashed
// into its trace; libprotobuf's general encoder (sizes first, then bytes, through virtual calls)
// was 8% of a swarm seed, most of it on these messages.
//
// The bytes are exactly libprotobuf's (fields in number order, defaults left out), so the trace
// hashes do not change: tests/sim/raft_wire_test.cc compares the two on random messages. Any
// other message, or a build whose RaftMessage or Envelope has fields this file does not know,
// gets nullopt and is left to libprotobuf.
//
//   RaftWire wire;
//   if (const auto bytes = wire.encode(envelope)) hash(*bytes);
//   else hash(envelope.SerializeAsString());
#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

#include "model/proto/envelope.pb.h"

namespace omni::sim {

class RaftWire {
 public:
  // The encoding of `envelope` when it is of the kind above, valid until the next call;
  // nullopt otherwise.
  std::optional<std::string_view> encode(const v1::Envelope& envelope);

 private:
  // The Envelope's seq (key and up to 10 bytes), the body's key (2) and its length (2 at most)
  // go in front of the RaftMessage, which is written first: its length is part of that front.
  static constexpr std::size_t kFrontBytes = 16;
  // The eleven scalar fields, each a one-byte key and a value of at most 10 bytes (121), and room.
  static constexpr std::size_t kBodyBytes = 12 * 11;
  std::array<char, kFrontBytes + kBodyBytes> buffer_;  // not zeroed: only what is written is read
};

// Whether the generated Envelope and RaftMessage have exactly the fields RaftWire writes. A
// field added to either turns it off (every message then goes to libprotobuf) until
// raft_wire.cc learns it; tests/sim/raft_wire_test.cc fails meanwhile, so that is not silent.
bool raft_wire_knows_the_schema();

}  // namespace omni::sim
