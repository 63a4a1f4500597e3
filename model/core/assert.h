#pragma once
// Assertions that stay on in every build. A failed assertion throws AssertionFailure so a
// simulator run can report it with its seed; a real host lets it end the process.
#include <stdexcept>
#include <string>

namespace omni {

class AssertionFailure : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

[[noreturn]] void assertion_failed(const char* expression, const char* file, int line,
                                   const std::string& detail);

}  // namespace omni

#define OMNI_ASSERT(cond, ...)                                                       \
  do {                                                                               \
    if (!(cond)) [[unlikely]]                                                        \
      ::omni::assertion_failed(#cond, __FILE__, __LINE__, std::string{__VA_ARGS__}); \
  } while (false)
