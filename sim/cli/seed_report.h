#pragma once
// What omni-sim prints for one seed: a line of text (and, when it failed, what broke and how
// to replay it) or one JSON object. Pure formatting of a RunResult.
#include <cstdint>
#include <ostream>
#include <string>

#include "sim/cluster/run.h"

namespace omni::sim::cli {

// "omni-sim run FILE --seed N --trace trace-N.json": the one command that replays a seed.
std::string replay_command(const std::string& file, std::uint64_t seed);
// "1m23.456s", "failed in phase workers: REASON", or "not done (in phase takeover)".
std::string init_text(const RunResult& result);

void print_seed_text(std::ostream& out, const RunResult& result, const std::string& file);
void print_seed_json(std::ostream& out, const RunResult& result, const std::string& file);

std::string hash_text(std::uint64_t hash);

}  // namespace omni::sim::cli
