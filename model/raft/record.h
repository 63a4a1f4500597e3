#pragma once
// Encoding of Raft's durable records: a RaftRecordFrame (CRC-32C + serialized RaftRecord).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "model/core/sealed.h"
#include "model/proto/raft.pb.h"

namespace omni::raft {

using omni::crc32c;  // the frame's checksum, shared with sealed checkpoints

std::string encode_record(const v1::RaftRecord& record);

// A RaftRecord's fields where they already are (the log's entries, the replica's hard state):
// encoded to the same bytes as the RaftRecord holding copies of them, without making the copies.
struct RecordParts {
  const v1::RaftSnapshot* snapshot = nullptr;  // left out when null
  std::span<const v1::RaftEntry> entries;
  const v1::RaftHardState* hard_state = nullptr;  // left out when null
};
std::string encode_record(const RecordParts& parts);
// nullopt when the bytes are torn, corrupted or do not parse.
std::optional<v1::RaftRecord> decode_record(const std::string& bytes);

}  // namespace omni::raft
