// What makes a hold stale: TTL elapsed, or a dead holder judged by pid and
// start time (a recycled pid is dead), or another boot.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>
#include "tests/support/process.hpp"

#include "common/hold_deadline.hpp"
#include "common/hold_state.hpp"
#include "common/identity.hpp"
#include "common/platform/boot_clock.hpp"
#include "common/platform/processes.hpp"
#include "common/process_liveness.hpp"

using namespace std::chrono_literals;
using lokt::HoldState;
using lokt::judge_record;

using lokt::test::dead_pid;

namespace {

lokt::LockRecord held_by_me() {
    const lokt::Identity me = lokt::current_identity();
    lokt::LockRecord r;
    r.name = "x";
    r.owner = me.owner;
    r.host = me.host;
    r.pid = me.pid;
    r.pid_start = me.pid_start;
    r.acquired = lokt::wall_now();
    r.bound_to = lokt::Binding::guard;
    return r;
}

}  // namespace

TEST_CASE("start time is read from /proc and is stable") {
    const auto first = lokt::process_start_ticks(::getpid());
    REQUIRE(first.has_value());
    CHECK(lokt::process_start_ticks(::getpid()) == first);
    CHECK(lokt::process_liveness(::getpid(), first) == lokt::Liveness::alive);
}

TEST_CASE("a live holder on this host is live; a dead one is stale") {
    const auto now = lokt::wall_now();
    lokt::LockRecord r = held_by_me();
    CHECK(judge_record(r, now, r.host) == HoldState::live);
    r.pid = dead_pid();
    r.pid_start.reset();
    CHECK(judge_record(r, now, r.host) == HoldState::dead_holder);
}

TEST_CASE("a recycled pid (same pid, other start time) is dead") {
    lokt::LockRecord r = held_by_me();
    r.pid_start = *r.pid_start + 12345;
    CHECK(judge_record(r, lokt::wall_now(), r.host) == HoldState::dead_holder);
}

TEST_CASE("another boot means every recorded holder is dead") {
    lokt::LockRecord r = held_by_me();
    r.boot_id = "00000000-0000-0000-0000-000000000000";
    if (!lokt::platform::this_boot_id().empty()) CHECK(judge_record(r, lokt::wall_now(), r.host) == HoldState::dead_holder);
}

TEST_CASE("liveness of holders on other hosts cannot be judged: only the TTL counts") {
    lokt::LockRecord r = held_by_me();
    r.pid = dead_pid();
    CHECK(judge_record(r, lokt::wall_now(), "another-host") == HoldState::live);
    r.expires_at = r.acquired + 1s;
    CHECK(judge_record(r, r.acquired + 2s, "another-host") == HoldState::expired);
}

TEST_CASE("a TTL-bound manual lock outlives the process that ran lokt") {
    lokt::LockRecord r = held_by_me();
    r.bound_to = lokt::Binding::ttl;
    r.pid = dead_pid();
    r.expires_at = r.acquired + 600s;
    CHECK(judge_record(r, r.acquired + 1s, r.host) == HoldState::live);
    CHECK(judge_record(r, r.acquired + 601s, r.host) == HoldState::expired);
}

TEST_CASE("files of a newer format are never judged stale") {
    lokt::LockRecord r = held_by_me();
    r.version = 2;
    r.pid = dead_pid();
    CHECK(judge_record(r, lokt::wall_now(), r.host) == HoldState::unsupported);
}

TEST_CASE("the held message names owner, host, pid and age, and an explicit agent id") {
    lokt::LockRecord r;
    r.owner = "agent-1";
    r.host = "macbook";
    r.pid = 48201;
    r.acquired = lokt::wall_now() - 12s;
    r.agent_id = lokt::derive_agent_id(48201, std::nullopt);
    CHECK(lokt::describe_holder(r, r.acquired + 12s) == "agent-1@macbook (pid 48201) for 12s");
    r.agent_id = "claude-7";
    CHECK(lokt::describe_holder(r, r.acquired + 12s) == "agent-1@macbook (pid 48201, agent claude-7) for 12s");
}

TEST_CASE("a record of this boot is judged on the boot clock, whatever the wall clock says") {
    if (lokt::platform::this_boot_id().empty() || !lokt::platform::boot_clock_ns()) return;
    const auto now = lokt::wall_now();
    lokt::LockRecord r = held_by_me();
    lokt::set_deadline(r, now, 10s);
    REQUIRE(r.expires_boot_ns.has_value());
    CHECK(r.boot_id == lokt::platform::this_boot_id());
    // A reader two hours ahead, or one hour behind, sees the same live hold.
    CHECK(judge_record(r, now + 2h, r.host) == HoldState::live);
    CHECK(judge_record(r, now - 1h, r.host) == HoldState::live);
    // Once the boot clock has passed the deadline, it is expired for every reader.
    r.expires_boot_ns = static_cast<std::uint64_t>(*lokt::platform::boot_clock_ns() - 1);
    CHECK(judge_record(r, now - 1h, r.host) == HoldState::expired);
    CHECK(lokt::has_lapsed(r, now - 1h));
}

TEST_CASE("records of another boot, or with a boot deadline beyond one TTL, are judged by wall clock") {
    const auto now = lokt::wall_now();
    lokt::LockRecord r = held_by_me();
    r.host = "another-host";
    lokt::set_deadline(r, now, 10s);
    r.boot_id = "00000000-0000-0000-0000-000000000000";
    CHECK(judge_record(r, now, "this-host") == HoldState::live);
    CHECK(judge_record(r, now + 11s, "this-host") == HoldState::expired);
    if (lokt::platform::this_boot_id().empty() || !lokt::platform::boot_clock_ns()) return;
    r.boot_id = lokt::platform::this_boot_id();
    r.expires_boot_ns = static_cast<std::uint64_t>(*lokt::platform::boot_clock_ns()) + 3'600'000'000'000ULL;
    CHECK(judge_record(r, now + 11s, "this-host") == HoldState::expired);
    CHECK(lokt::time_left(r, now).value() <= 10s);
}

TEST_CASE("a record's boot deadline survives the lock file") {
    lokt::LockRecord r = held_by_me();
    lokt::set_deadline(r, lokt::wall_now(), 5s);
    auto parsed = lokt::parse_lock_record(lokt::serialize_lock_record(r));
    REQUIRE(parsed.ok());
    CHECK(parsed.value().expires_boot_ns == r.expires_boot_ns);
}
