#pragma once
// Protocol buffers' varints, for the few places that write protobuf's bytes by hand because
// libprotobuf's general encoder is too slow there: the frame of a Raft record
// (model/raft/record.cc) and the simulator's encoding of Raft messages for its trace
// (sim/net/raft_wire.cc). Both are checked byte for byte against libprotobuf in their tests.
#include <cstddef>
#include <cstdint>

namespace omni {

// How many bytes write_varint writes for `value`: 1 to 10.
inline std::size_t varint_size(std::uint64_t value) {
  std::size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

// Writes `value` as a varint at `out` (seven bits a byte, low bits first); returns the end.
inline char* write_varint(char* out, std::uint64_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<char>(value);
  return out;
}

}  // namespace omni
