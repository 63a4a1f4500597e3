#include "sim/net/address_book.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace omni::sim {
namespace {

TEST(AddressBook, IdsFollowFirstUseAndUnknownNamesAreNotFound) {
  AddressBook book;
  EXPECT_EQ(book.find("orchestrator:1"), -1);
  EXPECT_EQ(book.intern("orchestrator:1"), 0U);
  EXPECT_EQ(book.intern("orchestrator:2"), 1U);
  EXPECT_EQ(book.intern("orchestrator:1"), 0U);
  EXPECT_EQ(book.intern("o"), 2U);  // shorter than a word of the hash
  EXPECT_EQ(book.find("orchestrator:2"), 1);
  EXPECT_EQ(book.find("orchestrator:3"), -1);
  EXPECT_EQ(book.find(""), -1);
  EXPECT_EQ(book.size(), 3U);
  EXPECT_EQ(book.address_of(1), "orchestrator:2");
}

// The table grows past many doublings with names that share long prefixes and differ in their
// last bytes, as a large cluster's do.
TEST(AddressBook, ThousandsOfNamesWithOneLongPrefixKeepTheirIds) {
  AddressBook book;
  constexpr int kNames = 20'000;
  for (int i = 0; i < kNames; ++i)
    ASSERT_EQ(book.intern("director:worker-" + std::to_string(i)), static_cast<AddressId>(i));
  for (int i = 0; i < kNames; ++i) ASSERT_EQ(book.find("director:worker-" + std::to_string(i)), i);
  EXPECT_EQ(book.find("director:worker-" + std::to_string(kNames)), -1);
  EXPECT_EQ(book.find("director:worker-"), -1);
  EXPECT_EQ(book.size(), static_cast<std::size_t>(kNames));
}

// Against a map as the reference: ids in order of first use, the same id every time, -1 for a
// name never interned.
RC_GTEST_PROP(AddressBook, AgreesWithAMapOfFirstUses,
              (const std::vector<std::string>& interned, const std::vector<std::string>& asked)) {
  AddressBook book;
  std::map<std::string, AddressId> reference;
  for (const auto& name : interned) {
    if (name.empty()) continue;  // every address has a name (asserted)
    const auto [it, first] = reference.emplace(name, static_cast<AddressId>(reference.size()));
    RC_ASSERT(book.intern(name) == it->second);
  }
  RC_ASSERT(book.size() == reference.size());
  for (const auto& name : asked) {
    const auto it = reference.find(name);
    RC_ASSERT(book.find(name) == (it == reference.end() ? -1 : std::int64_t{it->second}));
  }
  for (const auto& [name, id] : reference) RC_ASSERT(book.address_of(id) == name);
}

}  // namespace
}  // namespace omni::sim
