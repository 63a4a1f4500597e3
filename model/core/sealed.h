#pragma once
// Records that must not be misread after a disk fault: a checkpoint goes to disk sealed with the
// CRC-32C of its bytes, and is opened only when they still match. A flipped bit in a protobuf
// often still parses (into a different fence, a different VM list); a checksum says so instead.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace omni {

std::uint32_t crc32c(std::string_view bytes);

// The CRC-32C of a growing prefix, a byte at a time: value() after add() of b0..bn equals
// crc32c(b0..bn). For a scan that asks it of every prefix (a log whose frame length is damaged).
class Crc32cPrefix {
 public:
  void add(unsigned char byte);
  std::uint32_t value() const { return ~state_; }

 private:
  std::uint32_t state_ = 0xFFFFFFFFu;
};

// The CRC-32C of `payload` (4 bytes, little-endian), then `payload`.
std::string seal(std::string_view payload);

// The payload of a sealed record, or nullopt when it is torn or its bytes do not match.
std::optional<std::string> unseal(std::string_view record);

}  // namespace omni
