// Lock records and identities survive the trip to the wire and back with every
// field intact, and absent optional fields stay absent on the wire and after.
#include "record_conversion.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace lokt::protocol;
using lokt::Binding;
using lokt::LockRecord;
using lokt::WallTime;

namespace {

// 2026-09-21T14:13:20.123456789Z: nanoseconds that must not be rounded away.
const WallTime k_acquired{std::chrono::nanoseconds{1'790'000'000'123'456'789}};

LockRecord full_record(Binding binding) {
    LockRecord record;
    record.name = "deploy/prod";
    record.lock_id = "0123456789abcdef0123456789abcdef";
    record.owner = "alice";
    record.host = "ci-7";
    record.pid = 4242;
    record.pid_start = 987'654'321;
    record.agent_id = "agent-1a2b";
    record.acquired = k_acquired;
    record.ttl_sec = 300;
    record.expires_at = k_acquired + std::chrono::seconds(300);
    record.bound_to = binding;
    record.owner_explicit = true;
    record.boot_id = "4f3c2b1a-0000-4000-8000-123456789abc";
    record.fence = 17;
    return record;
}

void check_same_record(const LockRecord& back, const LockRecord& record) {
    CHECK(back.version == record.version);
    CHECK(back.name == record.name);
    CHECK(back.lock_id == record.lock_id);
    CHECK(back.owner == record.owner);
    CHECK(back.host == record.host);
    CHECK(back.pid == record.pid);
    CHECK(back.pid_start == record.pid_start);
    CHECK(back.agent_id == record.agent_id);
    CHECK(back.acquired == record.acquired);
    CHECK(back.ttl_sec == record.ttl_sec);
    CHECK(back.expires_at == record.expires_at);
    CHECK(back.bound_to == record.bound_to);
    CHECK(back.owner_explicit == record.owner_explicit);
    CHECK(back.boot_id == record.boot_id);
    CHECK(back.fence == record.fence);
}

}  // namespace

TEST_SUITE("record_conversion") {
    TEST_CASE("a full lock record round-trips through LockInfo with every field") {
        const struct {
            Binding binding;
            BoundTo wire;
        } cases[] = {{Binding::guard, BoundTo::guard}, {Binding::ttl, BoundTo::ttl}, {Binding::process, BoundTo::process}};
        for (const auto& c : cases) {
            CAPTURE(to_string(c.wire));
            const LockRecord record = full_record(c.binding);
            const LockInfo info = record_to_wire(record);
            CHECK(info.name == "deploy/prod");
            CHECK(info.lock_id == "0123456789abcdef0123456789abcdef");
            CHECK(info.owner == "alice");
            CHECK(info.host == "ci-7");
            CHECK(info.pid == 4242);
            CHECK(info.pid_start == 987'654'321u);
            CHECK(info.agent_id == "agent-1a2b");
            CHECK(info.acquired_ts == "2026-09-21T14:13:20.123456789Z");
            CHECK(info.ttl_sec == 300u);
            CHECK(info.expires_at == "2026-09-21T14:18:20.123456789Z");
            CHECK(info.bound_to == c.wire);
            CHECK(info.owner_explicit);
            CHECK(info.boot_id == "4f3c2b1a-0000-4000-8000-123456789abc");
            CHECK(info.fence == 17u);

            check_same_record(record_from_wire(info), record);
        }
    }

    TEST_CASE("a record without its optional fields leaves them absent on the wire and after") {
        LockRecord record;
        record.name = "build";
        record.lock_id = "fedcba9876543210fedcba9876543210";
        record.owner = "bob";
        record.host = "laptop";
        record.pid = 7;

        const LockInfo info = record_to_wire(record);
        CHECK(info.pid_start == std::nullopt);
        CHECK(info.agent_id.empty());
        CHECK(info.acquired_ts.empty());
        CHECK(info.ttl_sec == std::nullopt);
        CHECK(info.expires_at.empty());
        CHECK(info.bound_to == std::nullopt);
        CHECK_FALSE(info.owner_explicit);
        CHECK(info.boot_id.empty());
        CHECK(info.fence == std::nullopt);

        const LockRecord back = record_from_wire(info);
        check_same_record(back, record);
        CHECK(back.acquired.time_since_epoch().count() == 0);
        CHECK(back.ttl_sec == 0);
        CHECK(back.expires_at == std::nullopt);
        CHECK(back.bound_to == std::nullopt);
    }

    TEST_CASE("a timestamp that is not RFC 3339 reads as absent") {
        LockInfo info;
        info.name = "build";
        info.acquired_ts = "yesterday";
        info.expires_at = "soon";
        const LockRecord record = record_from_wire(info);
        CHECK(record.acquired.time_since_epoch().count() == 0);
        CHECK(record.expires_at == std::nullopt);
    }

    TEST_CASE("an identity round-trips with and without its optional fields") {
        lokt::Identity identity;
        identity.owner = "alice";
        identity.owner_explicit = true;
        identity.host = "ci-7";
        identity.pid = 4242;
        identity.pid_start = 987'654'321;
        identity.agent_id = "agent-1a2b";

        const Identity wire = identity_to_wire(identity);
        CHECK(wire.owner == "alice");
        CHECK(wire.owner_explicit);
        CHECK(wire.host == "ci-7");
        CHECK(wire.pid == 4242);
        CHECK(wire.pid_start == 987'654'321u);
        CHECK(wire.agent_id == "agent-1a2b");

        const lokt::Identity back = identity_from_wire(wire);
        CHECK(back.owner == identity.owner);
        CHECK(back.owner_explicit == identity.owner_explicit);
        CHECK(back.host == identity.host);
        CHECK(back.pid == identity.pid);
        CHECK(back.pid_start == identity.pid_start);
        CHECK(back.agent_id == identity.agent_id);

        identity.owner_explicit = false;
        identity.pid_start.reset();
        identity.agent_id.clear();
        const lokt::Identity bare = identity_from_wire(identity_to_wire(identity));
        CHECK(bare.owner == "alice");
        CHECK_FALSE(bare.owner_explicit);
        CHECK(bare.host == "ci-7");
        CHECK(bare.pid == 4242);
        CHECK(bare.pid_start == std::nullopt);
        CHECK(bare.agent_id.empty());
    }

}  // TEST_SUITE
