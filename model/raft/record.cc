#include "model/raft/record.h"

#include "model/core/assert.h"

namespace omni::raft {

std::string encode_record(const v1::RaftRecord& record) {
  v1::RaftRecordFrame frame;
  OMNI_ASSERT(record.SerializeToString(frame.mutable_payload()));
  frame.set_crc32c(crc32c(frame.payload()));
  std::string bytes;
  OMNI_ASSERT(frame.SerializeToString(&bytes));
  OMNI_ASSERT(!bytes.empty(), "a frame always carries its checksum");
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
