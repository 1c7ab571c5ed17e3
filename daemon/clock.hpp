// The daemon's two clocks behind one interface, so the per-root state can be
// driven by a fake clock in tests. Steady time runs timers (waits, renewals);
// wall time is only what goes into files.
#pragma once

#include <chrono>

#include "common/wall_time.hpp"

namespace lokt::daemon {

using SteadyTime = std::chrono::steady_clock::time_point;

class Clock {
public:
    virtual ~Clock() = default;
    virtual SteadyTime steady_now() const = 0;
    virtual WallTime wall_now() const = 0;
};

class SystemClock final : public Clock {
public:
    SteadyTime steady_now() const override;
    WallTime wall_now() const override;
};

}  // namespace lokt::daemon
