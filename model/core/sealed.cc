#include "model/core/sealed.h"

#include "model/core/assert.h"

namespace omni {
namespace {

constexpr std::size_t kChecksumBytes = 4;

}  // namespace

std::uint32_t crc32c(std::string_view bytes) {
  std::uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string seal(std::string_view payload) {
  const std::uint32_t crc = crc32c(payload);
  std::string record;
  record.reserve(kChecksumBytes + payload.size());
  for (std::size_t i = 0; i < kChecksumBytes; ++i)
    record.push_back(static_cast<char>((crc >> (8 * i)) & 0xFFu));
  record.append(payload);
  OMNI_ASSERT(record.size() == kChecksumBytes + payload.size());
  OMNI_ASSERT(unseal(record).has_value(), "a sealed record opens");
  return record;
}

std::optional<std::string> unseal(std::string_view record) {
  if (record.size() < kChecksumBytes) return std::nullopt;
  std::uint32_t stored = 0;
  for (std::size_t i = 0; i < kChecksumBytes; ++i)
    stored |= static_cast<std::uint32_t>(static_cast<unsigned char>(record[i])) << (8 * i);
  const std::string_view payload = record.substr(kChecksumBytes);
  if (crc32c(payload) != stored) return std::nullopt;
  return std::string(payload);
}

}  // namespace omni
