#pragma once
// `omni-node ROLE --config FILE`: one component in one process, on the host loop, the durable
// log and the mutual-TLS transport. Runs until SIGTERM or SIGINT (exit 0) or until the
// component stops on a disk error (exit 1); a config or TLS problem is exit 2, said on stderr.
#include "node/node_config.h"

namespace omni::node {

int serve(const NodeConfig& config);

}  // namespace omni::node
