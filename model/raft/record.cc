#include "model/raft/record.h"

#include <cstring>

#include "model/core/assert.h"
#include "model/core/wire.h"

namespace omni::raft {

namespace {

// The two fields of a RaftRecordFrame, as protobuf writes them: the checksum (field 1, fixed32)
// and the payload (field 2, length-delimited), each left out when it is zero or empty.
constexpr char kCrcTag = (1 << 3) | 5;
constexpr char kPayloadTag = (2 << 3) | 2;
constexpr std::size_t kCrcFieldSize = 5;

// A RaftRecord's fields, as protobuf tags them (RaftRecord in raft.proto; all length-delimited).
constexpr char kSnapshotTag = (1 << 3) | 2;
constexpr char kEntryTag = (2 << 3) | 2;
constexpr char kHardStateTag = (3 << 3) | 2;

std::size_t field_size(std::size_t message_size) {
  return 1 + varint_size(message_size) + message_size;
}

// Writes one length-delimited field holding `message`, whose size was just computed (cached).
char* write_field(char* out, char tag, const google::protobuf::MessageLite& message,
                  std::size_t message_size) {
  *out++ = tag;
  out = write_varint(out, message_size);
  return reinterpret_cast<char*>(
      message.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(out)));
}

// A string of the frame's header and `payload_size` more bytes, which `write_payload(char*)`
// fills; then the checksum and the length go in front. The bytes are exactly protobuf's for a
// RaftRecordFrame (record_test checks them against RaftRecordFrame's).
template <typename WritePayload>
std::string framed(std::size_t payload_size, WritePayload write_payload) {
  OMNI_ASSERT(payload_size > 0, "a record always holds something");
  const std::size_t header_size = kCrcFieldSize + 1 + varint_size(payload_size);
  std::string bytes(header_size + payload_size, '\0');
  char* const payload = bytes.data() + header_size;
  char* const payload_end = write_payload(payload);
  OMNI_ASSERT(payload_end == payload + payload_size, "the payload is as long as computed");
  const std::uint32_t crc = crc32c(std::string_view(payload, payload_size));
  bytes[0] = kCrcTag;
  for (int i = 0; i < 4; ++i) bytes[1 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  char* const end = write_varint(bytes.data() + kCrcFieldSize + 1, payload_size);
  bytes[kCrcFieldSize] = kPayloadTag;
  OMNI_ASSERT(end == payload, "the header is as long as computed");
  if (crc == 0) bytes.erase(0, kCrcFieldSize);  // proto3 leaves a zero field out
  return bytes;
}

}  // namespace

// The frame is written by hand around a payload serialized once, in place: building a
// RaftRecordFrame copied the payload a second time, and records are written at every append.
std::string encode_record(const v1::RaftRecord& record) {
  const std::size_t payload_size = record.ByteSizeLong();
  return framed(payload_size, [&](char* out) {
    return reinterpret_cast<char*>(
        record.SerializeWithCachedSizesToArray(reinterpret_cast<std::uint8_t*>(out)));
  });
}

// The fields in the order protobuf writes them (by number): copying the entries into a
// RaftRecord first cost a copy of every entry's data at every append.
std::string encode_record(const RecordParts& parts) {
  const std::size_t snapshot_size = parts.snapshot ? parts.snapshot->ByteSizeLong() : 0;
  const std::size_t hard_state_size = parts.hard_state ? parts.hard_state->ByteSizeLong() : 0;
  std::size_t payload_size = 0;
  if (parts.snapshot) payload_size += field_size(snapshot_size);
  for (const v1::RaftEntry& entry : parts.entries) payload_size += field_size(entry.ByteSizeLong());
  if (parts.hard_state) payload_size += field_size(hard_state_size);
  return framed(payload_size, [&](char* out) {
    if (parts.snapshot) out = write_field(out, kSnapshotTag, *parts.snapshot, snapshot_size);
    for (const v1::RaftEntry& entry : parts.entries)
      out = write_field(out, kEntryTag, entry, static_cast<std::size_t>(entry.GetCachedSize()));
    if (parts.hard_state) out = write_field(out, kHardStateTag, *parts.hard_state, hard_state_size);
    return out;
  });
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
