#pragma once
// Before the search: operations of one register that cannot change whether it is
// linearizable are left out, and optional writes nobody sees become covers, so the search
// does not try every subset of the operations that may never have taken effect (each one
// pending would double the states). Internal to the checker.
#include <cstddef>
#include <vector>

#include "sim/lincheck/search.h"

namespace omni::lincheck::search {

// ops in invoke order; origin (the caller's index of each op) is kept alongside. Until nothing
// changes:
// - a fail cas goes when the register cannot hold its expected value during its interval:
//   every op that may write the value is overwritten, for certain, before the fail cas is
//   invoked (an ok write or cas invoked after it was done and done before);
// - an optional (no completion) write or cas of a value no read and no cas needs to see goes,
//   unless it may be needed to give a fail cas another value (to cover it). A fail cas needs
//   at most one cover, placed right before it, and covers of values nothing expects are
//   interchangeable, so with k fail cas left the k earliest such writes are kept, as covers,
//   and any other optional op goes once k covers are invoked before it.
void simplify(std::vector<SearchOp>& ops, std::vector<std::size_t>& origin, std::size_t values);

}  // namespace omni::lincheck::search
