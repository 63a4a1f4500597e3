#include "model/raft/record.h"

#include <cstring>

#include "model/core/assert.h"

namespace omni::raft {

namespace {

// The two fields of a RaftRecordFrame, as protobuf writes them: the checksum (field 1, fixed32)
// and the payload (field 2, length-delimited), each left out when it is zero or empty.
constexpr char kCrcTag = (1 << 3) | 5;
constexpr char kPayloadTag = (2 << 3) | 2;
constexpr std::size_t kCrcFieldSize = 5;

std::size_t varint_size(std::size_t value) {
  std::size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

char* write_varint(char* out, std::size_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<char>((value & 0x7f) | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<char>(value);
  return out;
}

}  // namespace

// The frame is written by hand around a payload serialized once, in place: building a
// RaftRecordFrame copied the payload a second time, and records are written at every append.
// The bytes are exactly protobuf's (record_test checks them against RaftRecordFrame's).
std::string encode_record(const v1::RaftRecord& record) {
  const std::size_t payload_size = record.ByteSizeLong();
  OMNI_ASSERT(payload_size > 0, "a record always holds something");
  const std::size_t header_size = kCrcFieldSize + 1 + varint_size(payload_size);
  std::string bytes(header_size + payload_size, '\0');
  char* const payload = bytes.data() + header_size;
  record.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(payload));
  const std::uint32_t crc = crc32c(std::string_view(payload, payload_size));
  bytes[0] = kCrcTag;
  for (int i = 0; i < 4; ++i) bytes[1 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  char* const end = write_varint(bytes.data() + kCrcFieldSize + 1, payload_size);
  bytes[kCrcFieldSize] = kPayloadTag;
  OMNI_ASSERT(end == payload, "the header is as long as computed");
  if (crc == 0) bytes.erase(0, kCrcFieldSize);  // proto3 leaves a zero field out
  return bytes;
}

std::optional<v1::RaftRecord> decode_record(const std::string& bytes) {
  v1::RaftRecordFrame frame;
  if (!frame.ParseFromString(bytes)) return std::nullopt;
  if (bytes.empty() || frame.crc32c() != crc32c(frame.payload())) return std::nullopt;
  v1::RaftRecord record;
  if (!record.ParseFromString(frame.payload())) return std::nullopt;
  return record;
}

}  // namespace omni::raft
