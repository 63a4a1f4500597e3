#pragma once
// `omni-node ROLE --config FILE`: one component in one process, on the host loop, the durable
// log and the mutual-TLS transport. Runs until SIGTERM or SIGINT (exit 0) or until the
// component stops on a disk error (exit 1); a config or TLS problem is exit 2, said on stderr.
#include <functional>

#include "model/proto/envelope.pb.h"
#include "node/node_config.h"

namespace omni::node {

// The root's: where its progress lines go (by default, one log line each).
struct ServeHooks {
  std::function<void(const v1::Progress&)> on_progress;
};

// The root runs until it exits: 0 once it has handed the cluster over and removed itself, 1
// when init failed (its last progress line says in which phase and why).
int serve(const NodeConfig& config, const ServeHooks& hooks = {});

}  // namespace omni::node
