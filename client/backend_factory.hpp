// Chooses the backend for this run, once, at start: the files directly or loktd.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "client/backend.hpp"
#include "common/lock_root.hpp"

namespace lokt::client {

// How long a command waits for loktd's hello before it gives up on it: with
// LOKT_DAEMON=auto it then uses the files, with require it fails. A socket that
// accepts connections but never answers (a hung or stopped loktd, a socket unit
// whose service cannot start) costs every command that changes locks this
// much, and the command says so on stderr (docs/operations.md, design.md;
// `lokt doctor` measures it). A live loktd answers in well under a
// millisecond, and one that systemd starts on the first connection in a few;
// 200 ms leaves a hundredfold margin for a loaded machine and is still short
// next to the work a lock guards. The files are always correct, so giving up
// early costs fairness, never safety.
inline constexpr std::chrono::milliseconds k_auto_hello_timeout{200};
inline constexpr std::chrono::milliseconds k_require_hello_timeout{5000};

// The LOKT_DAEMON setting ("auto" when unset or empty); an error (usage) for
// anything but auto, off or require.
Result<std::string> daemon_mode();

// Whether this run's backend keeps locks and audit away from the lock root
// (etcd, from LOKT_BACKEND or .lokt.toml): commands that read the root's
// files directly ask the backend instead.
bool backend_is_remote();

// read_only: the command never creates the lock root.
Result<std::unique_ptr<Backend>> make_backend(const LockRoot& root, const Identity& identity, bool read_only, bool verbose);

}  // namespace lokt::client
