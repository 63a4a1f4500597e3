#pragma once
// Encoding of Raft's durable records: a RaftRecordFrame (CRC-32C + serialized RaftRecord).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/core/sealed.h"
#include "model/proto/raft.pb.h"

namespace omni::raft {

using omni::crc32c;  // the frame's checksum, shared with sealed checkpoints

std::string encode_record(const v1::RaftRecord& record);
// nullopt when the bytes are torn, corrupted or do not parse.
std::optional<v1::RaftRecord> decode_record(const std::string& bytes);

}  // namespace omni::raft
