#include "model/core/step.h"

namespace omni {

Time now_of(const Input& input) {
  return std::visit([](const auto& in) { return in.now; }, input);
}

}  // namespace omni
