#include "model/core/step.h"

namespace omni {

Time now_of(const Input& input) {
  return std::visit([](const auto& in) { return in.now; }, input);
}

// GCC 12 at -O3 inlines the vector's reallocation into a push_back of one alternative and
// reports the others (VmOp, Persist's string) as "maybe uninitialized" while they are moved, a
// false positive inside std::variant (GCC bug 105562 and kin). Silenced here, in one function,
// so callers that hit it need no pragma of their own.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
void push_wake(Outputs& out, Time at) {
  out.push_back(WakeAt{at});
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace omni
