#pragma once
// Identifier generation.

#include <string>

namespace cairn {

// A random 128-bit id as 32 lowercase hex digits (the shape of MLflow's run ids).
// Thread-safe.
std::string NewUuidHex();

}  // namespace cairn
