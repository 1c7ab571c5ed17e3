// RootState's bookkeeping with many holds and waiters: the time-ordered
// deadlines and the by-connection indexes stay in step with the queues and
// holds through thousands of interleaved operations, so timeouts, renewals,
// manual TTL lapses and retries still come at the right moment, and a closing
// connection touches only what was its own. Driven by the fake clock.
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "tests/daemon/root_state_fakes.hpp"

namespace lokt::daemon {
using namespace root_state_fakes;
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string hold_name(int i) {
    std::string digits = std::to_string(i);
    return "g" + std::string(4 - digits.size(), '0') + digits;
}

// Guard holds g0000..g(count-1), spread over connections 1..4; TTL 10s, 20s,
// 30s or none by i % 4; one millisecond apart.
std::optional<Nanoseconds> guard_ttl(int i) {
    if (i % 4 == 3) return std::nullopt;
    return seconds(10 * (i % 4 + 1));
}

}  // namespace

TEST_SUITE("root_state_scale") {
    TEST_CASE("timeouts, renewals, manual TTL lapses and retries come on time through thousands of interleaved operations") {
        Fixture f;
        Effects effects;
        constexpr int guards = 2000;
        std::map<std::string, SteadyTime> renewed;  // when each TTL guard hold was last written
        for (int i = 0; i < guards; ++i) {
            const auto name = hold_name(i);
            f.state.acquire(ticket(1 + i % 4, name, false, guard_ttl(i)), effects);
            if (guard_ttl(i)) renewed[name] = f.clock.steady_now();
            f.clock.advance(milliseconds(1));
        }
        const SteadyTime manual_at = f.clock.steady_now();
        for (int i = 0; i < 500; ++i) {
            AcquireTicket manual = ticket(5, "m" + std::to_string(i), false, seconds(30));
            manual.spec.binding = Binding::ttl;
            f.state.acquire(manual, effects);
        }
        // A waiter that will time out, and one behind a freeze that lapses.
        const SteadyTime waiting_since = f.clock.steady_now();
        f.state.acquire(ticket(9, hold_name(1), true, std::nullopt, seconds(3)), effects);
        LockRecord freeze;
        freeze.name = "frozen";
        freeze.owner = "ops";
        freeze.expires_at = f.clock.wall_now() + seconds(7);
        f.files.freezes["frozen"] = freeze;
        f.state.acquire(ticket(10, "frozen", true, std::nullopt, seconds(60)), effects);
        REQUIRE(Fixture::granted(effects).size() == guards + 500);
        REQUIRE(f.state.hold_count() == guards + 500);
        REQUIRE(f.state.indexes_consistent());
        // The first renewal (g0000, 10s TTL, at 5s) comes after the timeout (3s).
        CHECK(*f.state.next_deadline() == waiting_since + seconds(3));

        std::size_t log_seen = f.files.log.size();
        bool timed_out = false;
        bool thawed = false;
        int renewals = 0;
        for (int step = 1; step <= 450; ++step) {
            f.clock.advance(milliseconds(100));
            const SteadyTime now = f.clock.steady_now();
            if (now >= waiting_since + seconds(7)) f.files.freezes.clear();  // it lapsed
            Effects out;
            f.state.advance(out);
            // A renewal comes no sooner than TTL/2 after the last write, and
            // never after the lock file would have lapsed.
            for (; log_seen < f.files.log.size(); ++log_seen) {
                const std::string& line = f.files.log[log_seen];
                if (!line.starts_with("renew ")) continue;
                const std::string renewed_name = line.substr(6, line.find(" by ") - 6);
                const int index = std::stoi(renewed_name.substr(1));
                REQUIRE(guard_ttl(index));
                CHECK(now - renewed.at(renewed_name) >= *guard_ttl(index) / 2);
                CHECK(now - renewed.at(renewed_name) < *guard_ttl(index) / 2 + milliseconds(100));
                renewed[renewed_name] = now;
                ++renewals;
            }
            // Interleaved: one hold released and taken again, by its own connection.
            const int k = 100 + (step * 37) % (guards - 100);
            const auto name = hold_name(k);
            REQUIRE(f.state.release(name, f.lock_id(name), f.actor(1 + k % 4), {}, out).ok());
            f.state.acquire(ticket(1 + k % 4, name, false, guard_ttl(k)), out);
            if (guard_ttl(k)) renewed[name] = now;
            REQUIRE(f.state.indexes_consistent());
            // Whatever was due has been done.
            if (auto next = f.state.next_deadline()) REQUIRE(*next > now);

            for (const auto& answer : out.answers) {
                if (answer.connection == 9) {
                    REQUIRE(answer.result.ok());
                    CHECK(answer.result->refusal.code == ErrorCode::timeout);
                    CHECK(now >= waiting_since + seconds(3));
                    CHECK(now < waiting_since + seconds(3) + milliseconds(100));
                    timed_out = true;
                }
                if (answer.connection == 10) {
                    REQUIRE(answer.result.ok());
                    CHECK(answer.result->granted());
                    CHECK(now >= waiting_since + seconds(7));
                    CHECK(now < waiting_since + seconds(7) + milliseconds(100));
                    thawed = true;
                }
            }
            // Manual TTL holds are forgotten when they lapse, not before.
            const bool lapsed = now >= manual_at + seconds(30);
            CHECK(f.state.hold_count() == guards + (lapsed ? 0 : 500) + (thawed ? 1 : 0));
        }
        CHECK(timed_out);
        CHECK(thawed);
        CHECK(renewals > guards);  // most TTL holds renewed several times in 45 s
    }

    TEST_CASE("a closing connection with a thousand holds ends only its own; one with nothing here changes nothing") {
        Fixture f;
        Effects effects;
        for (int i = 0; i < 2000; ++i) f.state.acquire(ticket(1 + i % 2, hold_name(i), false, seconds(10)), effects);
        f.state.acquire(ticket(3, hold_name(0), true), effects);  // waits for connection 1's first hold
        f.state.acquire(ticket(3, hold_name(1), true), effects);  // and for one of connection 2's
        REQUIRE(f.state.waiter_count() == 2);

        const int checks = f.files.stale_checks;
        Effects nothing;
        f.state.connection_closed(77, false, nothing);
        CHECK(nothing.empty());
        CHECK(f.files.stale_checks == checks);
        CHECK_FALSE(f.state.has_connection(77));

        Effects step;
        f.state.connection_closed(1, false, step);
        CHECK(f.files.stale_checks == checks + 1000);  // its own holds, none of the others'
        CHECK(Fixture::granted(step) == std::vector<ConnectionId>{3});
        CHECK(f.state.hold_count() == 1001);  // connection 2's and the one just granted
        CHECK(f.state.waiter_count() == 1);
        CHECK_FALSE(f.state.has_connection(1));
        CHECK(f.state.indexes_consistent());
        for (int i = 1; i < 2000; i += 2) REQUIRE(f.files.locks.count(hold_name(i)) == 1);

        // The waiter leaves with its connection; the other holds are still renewed on time.
        f.state.connection_closed(3, false, step);
        CHECK(f.state.waiter_count() == 0);
        CHECK(f.state.indexes_consistent());
        const std::size_t before = f.files.log.size();
        f.clock.advance(seconds(5));
        Effects renewals;
        f.state.advance(renewals);
        CHECK(f.files.log.size() - before == 1000);
        CHECK(f.state.indexes_consistent());

        f.state.connection_closed(2, false, step);
        CHECK(f.state.idle());
        CHECK_FALSE(f.state.next_deadline());
        CHECK(f.state.indexes_consistent());
    }

    TEST_CASE("detached holds and blocked queues are found without walking every hold") {
        Fixture f;
        Effects effects;
        for (int i = 0; i < 1000; ++i) f.state.acquire(ticket(1, hold_name(i), false, seconds(10)), effects);
        // One hold whose guard carries on, one kept by its command's handle.
        f.state.acquire(ticket(2, "guarded", false, seconds(10)), effects);
        AcquireTicket handled = ticket(3, "handled", false, seconds(10));
        handled.spec.handle = "0123456789abcdef0123456789abcdef";
        f.state.acquire(handled, effects);
        f.files.alive_pids.insert(1002);
        f.files.held_handles.insert(handled.spec.handle);
        f.state.connection_closed(2, false, effects);
        f.state.connection_closed(3, false, effects);
        CHECK(f.state.blocker_pids() == std::map<pid_t, std::set<std::string>>{{1002, {"guarded"}}});
        CHECK(f.state.watched_handles() == std::set<std::string>{handled.spec.handle});
        CHECK(f.state.names_of_handle(handled.spec.handle) == std::vector<std::string>{"handled"});
        CHECK(f.state.indexes_consistent());
        // Only the handle's hold is the daemon's to renew now; the guard renews its own.
        const std::size_t before = f.files.log.size();
        f.clock.advance(seconds(5));
        f.state.advance(effects);
        CHECK(std::count(f.files.log.begin() + static_cast<long>(before), f.files.log.end(), "renew handled by 1003") == 1);
        CHECK(std::count(f.files.log.begin() + static_cast<long>(before), f.files.log.end(), "renew guarded by 1002") == 0);

        f.files.held_handles.clear();
        f.state.handle_released(handled.spec.handle, effects);
        CHECK(f.state.watched_handles().empty());
        f.files.alive_pids.clear();
        f.state.files_changed("guarded", effects);
        CHECK(f.state.blocker_pids().empty());
        CHECK(f.state.hold_count() == 1000);
        CHECK(f.state.indexes_consistent());
    }

}  // TEST_SUITE

}  // namespace lokt::daemon
