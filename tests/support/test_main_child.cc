// Run by test_main_test with a budget far below what these tests take.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

TEST(Child, OutlivesItsBudget) {
  std::this_thread::sleep_for(std::chrono::seconds(30));
}

TEST(Child, Quick) {
  SUCCEED();
}
