#pragma once
// Encoding of Raft's durable records: a RaftRecordFrame (CRC-32C + serialized RaftRecord).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/proto/raft.pb.h"

namespace omni::raft {

std::uint32_t crc32c(std::string_view bytes);

std::string encode_record(const v1::RaftRecord& record);
// nullopt when the bytes are torn, corrupted or do not parse.
std::optional<v1::RaftRecord> decode_record(const std::string& bytes);

}  // namespace omni::raft
