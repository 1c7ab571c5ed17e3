// The JSON shapes of `--json` output (status, lock, why): one definition each,
// so every command prints a lock the same way.
#pragma once

#include <nlohmann/json.hpp>

#include "lock_engine.hpp"

namespace lokt::client {

nlohmann::ordered_json lock_record_json(const LockRecord& record);
nlohmann::ordered_json lock_view_json(const LockView& view, WallTime now);
nlohmann::ordered_json freeze_json(const std::string& name, const LockRecord& record);

}  // namespace lokt::client
