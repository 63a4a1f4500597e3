#pragma once
// The model component an omni-node process runs, made from its role and its arguments (the
// `args` of its config, or what its container or VM was started with):
//
//   orchestrator --replica=N (--members=orchestrator:1,... | --join)
//   director --node=NODE --own-vm=VM --cpu-millis=N --memory-bytes=N
//            [--director-vm-cpu-millis=N --director-vm-memory-bytes=N] [--root=IDENTITY]
//   agent --vm=VM --director=director:NODE --cpu-millis=N --memory-bytes=N
//
// The identity the component answers to must be the one its certificate names.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/core/step.h"

namespace omni::node {

// The component, or nullptr with the reason in `error`. `seed` seeds the model's randomness
// (Orchestrators only; taken once from the host's entropy).
std::unique_ptr<Component> make_component(const std::string& role,
                                          const std::vector<std::string>& args,
                                          const std::string& identity, std::uint64_t seed,
                                          std::string& error);

// The identity args make ("orchestrator:2" from --replica=2, "director:NODE" from --node=,
// "agent:VM" from --vm=), or empty when they name none.
std::string identity_of_args(const std::string& role, const std::vector<std::string>& args);

}  // namespace omni::node
