#include "model/director/fence.h"

namespace omni {

std::string to_string(FenceValue f) {
  return (f.era == kRootEra ? "root epoch " : "cluster term ") + std::to_string(f.term);
}

}  // namespace omni
