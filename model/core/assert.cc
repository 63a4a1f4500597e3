#include "model/core/assert.h"

namespace omni {

void assertion_failed(const char* expression, const char* file, int line,
                      const std::string& detail) {
  std::string message =
      std::string(file) + ":" + std::to_string(line) + ": assertion failed: " + expression;
  if (!detail.empty()) message += " (" + detail + ")";
  throw AssertionFailure(message);
}

}  // namespace omni
