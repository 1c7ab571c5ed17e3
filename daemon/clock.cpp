// See clock.hpp.
#include "daemon/clock.hpp"

namespace lokt::daemon {

SteadyTime SystemClock::steady_now() const { return std::chrono::steady_clock::now(); }
WallTime SystemClock::wall_now() const { return lokt::wall_now(); }

}  // namespace lokt::daemon
