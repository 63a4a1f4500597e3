#include "model/core/sealed.h"

#include <array>

#include "model/core/assert.h"

namespace omni {
namespace {

constexpr std::size_t kChecksumBytes = 4;

}  // namespace

namespace {

constexpr std::uint32_t kCastagnoli = 0x82F63B78u;  // CRC-32C, reflected

// Slicing by 8: table[k][b] is the CRC of byte b followed by k zero bytes, so eight bytes are
// folded in with eight lookups instead of sixty-four shifts (bit by bit, the checksum was 3.6%
// of the real plane's CPU: docs/figures.md).
using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t crc = b;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (kCastagnoli & (0u - (crc & 1u)));
    t[0][b] = crc;
  }
  for (std::size_t k = 1; k < 8; ++k)
    for (std::size_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFu];
  return t;
}

constexpr Tables kTables = make_tables();
static_assert(kTables[0][0x80] == kCastagnoli, "a lone top bit divides to the polynomial");
static_assert(kTables[1][0] == 0 && kTables[7][0] == 0, "zeros leave the register as it was");

std::uint32_t fold_bytes(std::uint32_t crc, const unsigned char* at, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) crc = (crc >> 8) ^ kTables[0][(crc ^ at[i]) & 0xFFu];
  return crc;
}

}  // namespace

std::uint32_t crc32c(std::string_view bytes) {
  const auto* at = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t left = bytes.size();
  std::uint32_t crc = 0xFFFFFFFFu;
  for (; left >= 8; at += 8, left -= 8) {
    // Little-endian order of the first four bytes, whatever the machine's.
    const std::uint32_t low = crc ^ (std::uint32_t{at[0]} | std::uint32_t{at[1]} << 8 |
                                     std::uint32_t{at[2]} << 16 | std::uint32_t{at[3]} << 24);
    crc = kTables[7][low & 0xFFu] ^ kTables[6][(low >> 8) & 0xFFu] ^
          kTables[5][(low >> 16) & 0xFFu] ^ kTables[4][low >> 24] ^ kTables[3][at[4]] ^
          kTables[2][at[5]] ^ kTables[1][at[6]] ^ kTables[0][at[7]];
  }
  return ~fold_bytes(crc, at, left);
}

void Crc32cPrefix::add(unsigned char byte) {
  state_ = fold_bytes(state_, &byte, 1);
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
