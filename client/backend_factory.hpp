// Chooses the backend for this run, once, at start: the files directly or loktd.
#pragma once

#include <memory>

#include "backend.hpp"
#include "lock_root.hpp"

namespace lokt::client {

// read_only: the command never creates the lock root.
Result<std::unique_ptr<Backend>> make_backend(const LockRoot& root, const Identity& identity, bool read_only,
                                              bool verbose);

}  // namespace lokt::client
