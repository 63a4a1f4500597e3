#include "model/config/cluster_config.h"

#include "model/core/assert.h"

namespace omni::config {

int default_orchestrators(std::size_t node_count) {
  OMNI_ASSERT(node_count > 0);
  const int n =
      node_count >= static_cast<std::size_t>(kDefaultOrchestrators) ? kDefaultOrchestrators : 1;
  OMNI_ASSERT(n % 2 == 1 && static_cast<std::size_t>(n) <= node_count);
  return n;
}

}  // namespace omni::config
