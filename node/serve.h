#pragma once
// `omni-node ROLE --config FILE`: one component in one process, on the host loop, the durable
// log and the mutual-TLS transport. Runs until SIGTERM or SIGINT (exit 0) or until the
// component stops on a disk error (exit 1); a config or TLS problem is exit 2, said on stderr.
#include <functional>
#include <string>
#include <string_view>

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

// What a stranger chose (the name in a certificate this cluster did not sign), fit for one log
// line: bytes outside printable ASCII as \xNN, at most `max_bytes` of it, then "...".
std::string printable(std::string_view text, std::size_t max_bytes = 128);

}  // namespace omni::node
