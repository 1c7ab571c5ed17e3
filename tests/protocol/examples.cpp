// The example messages behind the golden files (see examples.hpp).
#include "tests/protocol/examples.hpp"

#include "protocol/line_framer.hpp"

namespace lokt::protocol::test {

WallTime at(const char* rfc3339) { return parse_rfc3339(rfc3339).value(); }

Identity example_identity() {
    Identity identity;
    identity.owner = "agent-1";
    identity.owner_explicit = true;
    identity.host = "devbox";
    identity.pid = 7271;
    identity.pid_start = 21454;
    identity.agent_id = "agent-e2fb";
    return identity;
}

LockRecord example_lock() {
    LockRecord lock;
    lock.name = "build";
    lock.lock_id = k_lock_id;
    lock.owner = "agent-1";
    lock.host = "devbox";
    lock.pid = 7271;
    lock.pid_start = 21454;
    lock.agent_id = "agent-e2fb";
    lock.acquired = at("2026-11-22T12:50:13.468669729Z");
    lock.ttl_sec = 300;
    lock.expires_at = at("2026-11-22T12:55:13.468669729Z");
    lock.bound_to = Binding::guard;
    lock.owner_explicit = true;
    lock.boot_id = "4f0e2b7c-5d1a-4c36-9a8e-0b6f3d2c1e90";
    lock.fence = 42;
    return lock;
}

LockRecord example_freeze() {
    LockRecord freeze;
    freeze.name = "deploy";
    freeze.lock_id = "9f1c2d3e4a5b60718293a4b5c6d7e8f9";
    freeze.owner = "ops";
    freeze.host = "devbox";
    freeze.pid = 9120;
    freeze.acquired = at("2026-02-07T15:00:00Z");
    freeze.ttl_sec = 1800;
    freeze.expires_at = at("2026-02-07T15:30:00Z");
    freeze.bound_to = Binding::ttl;
    return freeze;
}

namespace {

// A lock written by another tool: no lock_id, agent, TTL or pid start.
LockRecord foreign_lock() {
    LockRecord lock;
    lock.name = "test-db";
    lock.owner = "alice";
    lock.host = "devbox";
    lock.pid = 5501;
    lock.acquired = at("2026-11-22T12:40:00Z");
    return lock;
}

Identity plain_identity() {
    Identity identity;
    identity.owner = "dev";
    identity.host = "devbox";
    identity.pid = 8100;
    return identity;
}

ErrorReply error(std::optional<Op> op, ErrorCode code, std::string message) {
    ErrorReply reply;
    reply.op = op;
    reply.code = code;
    reply.message = std::move(message);
    return reply;
}

Example reply(std::uint64_t id, ReplyBody body) { return ServerMessage{Reply{id, std::move(body)}}; }

GoldenFile hello() {
    HelloRequest request{k_supported_versions, "0.1.0", "1a2b3c4d5e6f", {"progress"}};
    HelloReply ok{2, "0.1.0", "1a2b3c4d5e6f", 4242, {"progress"}};
    ErrorReply unsupported = error(Op::hello, ErrorCode::unsupported,
                                   "no common protocol version: the client speaks 3 to 4, the daemon 1 to 2; "
                                   "install the same lokt version for both");
    unsupported.supported = VersionRange{1, 2};
    return {"hello",
            {Request{1, request}, reply(1, ok), Request{1, HelloRequest{{3, 4}, "0.3.0", "", {}}}, reply(1, unsupported)}};
}

GoldenFile acquire() {
    AcquireRequest guard;
    guard.root = k_root;
    guard.name = "build";
    guard.mode = AcquireMode::guard;
    guard.ttl_ms = 300000;
    guard.wait = true;
    guard.timeout_ms = 600000;
    guard.identity = example_identity();
    guard.handle = "7d2e9a41c03b58f6e1a2b3c4d5e6f708";

    AcquireRequest manual;
    manual.root = k_root;
    manual.name = "db-migrate";
    manual.mode = AcquireMode::manual;
    manual.identity = plain_identity();
    manual.bound_pid = 8000;
    manual.bound_pid_start = 20110;

    AcquireRequest nested = guard;
    nested.wait = false;
    nested.timeout_ms.reset();
    nested.handle.clear();
    nested.nested_lock_id = k_lock_id;

    LockRecord manual_lock = foreign_lock();
    manual_lock.name = "db-migrate";
    manual_lock.lock_id = "c0ffee00c0ffee00c0ffee00c0ffee00";
    manual_lock.owner = "dev";
    manual_lock.pid = 8000;
    manual_lock.pid_start = 20110;
    manual_lock.bound_to = Binding::process;

    ErrorReply held = error(Op::acquire, ErrorCode::held, "lock \"build\" held by agent-1@devbox (pid 7271) for 12s");
    held.holder = example_lock();
    ErrorReply frozen =
        error(Op::acquire, ErrorCode::frozen, "lock \"deploy\" is frozen until 2026-02-07T15:30:00Z (by ops@devbox)");
    frozen.freeze = example_freeze();
    ErrorReply timed_out = error(Op::acquire, ErrorCode::timeout,
                                 "timed out after 10m waiting for lock \"build\" held by agent-1@devbox (pid 7271)");
    timed_out.holder = example_lock();

    return {"acquire",
            {Request{2, guard}, reply(2, AcquireReply{example_lock(), AcquireResult::Outcome::acquired}), Request{3, manual},
             reply(3, AcquireReply{manual_lock, AcquireResult::Outcome::refreshed}), Request{4, nested},
             reply(4, AcquireReply{example_lock(), AcquireResult::Outcome::nested}), reply(5, held), reply(6, frozen),
             reply(7, timed_out)}};
}

// A slot of a pool: the request names the pool and its size, the reply the slot's lock.
GoldenFile acquire_slot() {
    AcquireRequest request;
    request.root = k_root;
    request.name = "gpu";
    request.mode = AcquireMode::guard;
    request.wait = true;
    request.timeout_ms = 600000;
    request.identity = example_identity();
    request.handle = "7d2e9a41c03b58f6e1a2b3c4d5e6f708";
    request.slots = 3;

    LockRecord slot = example_lock();
    slot.name = "gpu.slot-1";
    slot.ttl_sec = 0;
    slot.expires_at.reset();
    slot.fence = 7;
    slot.pool = "gpu";
    slot.slots = 3;
    slot.slot = 1;

    ErrorReply mismatch = error(Op::acquire, ErrorCode::usage,
                                "pool \"gpu\" has 3 slots, not 4 (slot 0 is held by agent-1@devbox (pid 7271) for 12s); use "
                                "--slots 3, or change the size once the pool is idle");
    return {"acquire_slot",
            {Request{12, request}, reply(12, AcquireReply{slot, AcquireResult::Outcome::acquired}), reply(13, mismatch)}};
}

// A shared hold: the request says so; the reply is the member's own record
// (its lock id and fence), and an exclusive request meets the group.
GoldenFile acquire_shared() {
    AcquireRequest request;
    request.root = k_root;
    request.name = "dataset";
    request.mode = AcquireMode::guard;
    request.wait = false;
    request.identity = example_identity();
    request.handle = "7d2e9a41c03b58f6e1a2b3c4d5e6f708";
    request.shared = true;

    LockRecord member = example_lock();
    member.name = "dataset";
    member.ttl_sec = 0;
    member.expires_at.reset();
    member.fence = 9;

    ErrorReply exclusive = error(Op::acquire, ErrorCode::held,
                                 "lock \"dataset\" held in shared mode by 2 holders: agent-1@devbox (pid 7271) for 12s, "
                                 "agent-2@devbox (pid 7302) for 3s");
    return {"acquire_shared",
            {Request{14, request}, reply(14, AcquireReply{member, AcquireResult::Outcome::acquired}), reply(15, exclusive)}};
}

GoldenFile progress() {
    Progress behind_holder{2, 2, 3, example_lock(), std::nullopt};
    Progress behind_freeze{2, 1, 1, std::nullopt, example_freeze()};
    Progress next{2, 1, 2, std::nullopt, std::nullopt};
    return {"progress", {ServerMessage{behind_holder}, ServerMessage{behind_freeze}, ServerMessage{next}}};
}

GoldenFile release() {
    return {"release",
            {Request{8, ReleaseRequest{k_root, "build", k_lock_id, 0, example_identity(), {}}}, reply(8, ReleaseReply{}),
             reply(9, error(Op::release, ErrorCode::lost,
                            "lock \"build\" is no longer ours: it is held by alice@devbox (pid 5501)"))}};
}

GoldenFile renew() {
    return {
        "renew",
        {Request{10, RenewRequest{k_root, "build", k_lock_id, 300000, example_identity()}}, reply(10, RenewReply{example_lock()}),
         reply(11, error(Op::renew, ErrorCode::not_found, "lock \"build\" is not held"))}};
}

GoldenFile unlock() {
    UnlockRequest by_owner{k_root, "db-migrate", UnlockMode::owner, plain_identity()};
    UnlockRequest stale{k_root, "build", UnlockMode::break_stale, plain_identity()};
    UnlockRequest forced{k_root, "test-db", UnlockMode::force, plain_identity()};
    LockRecord migrate = foreign_lock();
    migrate.name = "db-migrate";
    migrate.lock_id = "c0ffee00c0ffee00c0ffee00c0ffee00";
    migrate.owner = "dev";
    migrate.pid = 8000;
    ErrorReply live =
        error(Op::unlock, ErrorCode::held, "lock \"build\" is not stale: held by agent-1@devbox (pid 7271) for 12s");
    live.holder = example_lock();
    ErrorReply not_owner = error(Op::unlock, ErrorCode::not_owner,
                                 "lock \"build\" is held by agent-1@devbox, not by dev; a human may break it with --force");
    not_owner.holder = example_lock();
    return {"unlock",
            {Request{12, by_owner}, reply(12, UnlockReply{migrate}), Request{13, stale}, reply(13, live), Request{14, forced},
             reply(14, UnlockReply{std::nullopt}), reply(40, not_owner)}};
}

GoldenFile unlock_many() {
    UnlockManyRequest by_owner{k_root, std::string("agent-1"), false, example_identity()};
    UnlockManyRequest all{k_root, std::nullopt, false, plain_identity()};
    UnlockManyRequest forced{k_root, std::string("agent-1"), true, plain_identity()};
    UnlockRefusal theirs{
        ErrorCode::not_owner,
        "lock \"build\" is held by agent-1@devbox (pid 7271) for 12s, not by dev; a human may break it with --force",
        example_lock()};
    LockRecord dead = foreign_lock();
    dead.owner = "agent-1";
    return {
        "unlock_many",
        {Request{15, by_owner}, reply(15, UnlockManyReply{{example_lock()}, {}}), Request{16, all},
         reply(16, UnlockManyReply{{example_lock(), foreign_lock()}, {}}), reply(17, UnlockManyReply{}),
         reply(37, UnlockManyReply{{dead}, {theirs}}), Request{38, forced}, reply(38, UnlockManyReply{{example_lock()}, {}})}};
}

GoldenFile status() {
    StatusRequest everything{k_root, "", false, std::nullopt};
    StatusRequest one{k_root, "build", false, std::nullopt};
    StatusRequest prune{k_root, "", true, plain_identity()};
    LockRecord expired = foreign_lock();
    expired.name = "lint";
    expired.ttl_sec = 60;
    expired.expires_at = at("2026-11-22T12:41:00Z");
    // Every name: each one's queue, grouped by name, in queue order.
    auto second_waiter = plain_identity();
    second_waiter.pid = 8102;
    StatusReply all_reply{{LockStatus{example_lock(), HoldState::live, 2}, LockStatus{foreign_lock(), HoldState::dead_holder, 0}},
                          {example_freeze()},
                          {},
                          std::vector<WaiterInfo>{WaiterInfo{"build", 1, plain_identity(), 4000, "exclusive"},
                                                  WaiterInfo{"build", 2, second_waiter, 1500, "shared"}}};
    // One name: who waits for it, in queue order.
    StatusReply one_reply{{LockStatus{example_lock(), HoldState::live, 1}},
                          {},
                          {},
                          std::vector<WaiterInfo>{WaiterInfo{"build", 1, plain_identity(), 4000, "exclusive"}}};
    StatusReply pruned_reply{{LockStatus{example_lock(), HoldState::live, 0}}, {}, {expired}, std::vector<WaiterInfo>{}};
    return {"status",
            {Request{18, everything}, reply(18, all_reply), Request{19, one}, reply(19, one_reply), Request{20, prune},
             reply(20, pruned_reply)}};
}

GoldenFile freeze() {
    ErrorReply held = error(Op::freeze, ErrorCode::frozen,
                            "lock \"deploy\" is already frozen until 2026-02-07T15:30:00Z (by ops@devbox); a human may "
                            "replace it with 'lokt freeze deploy --ttl D --force'");
    held.freeze = example_freeze();
    LockRecord replacement = example_freeze();
    replacement.owner = "dev";
    replacement.pid = 8100;
    return {
        "freeze",
        {Request{21, FreezeRequest{k_root, "deploy", 1800000, false, plain_identity()}}, reply(21, FreezeReply{example_freeze()}),
         reply(22, held), Request{39, FreezeRequest{k_root, "deploy", 1800000, true, plain_identity()}},
         reply(39, FreezeReply{replacement}), reply(41, error(Op::freeze, ErrorCode::usage, "--ttl: at most 8760h (one year)"))}};
}

GoldenFile unfreeze() {
    return {"unfreeze",
            {Request{23, UnfreezeRequest{k_root, "deploy", false, plain_identity()}}, reply(23, UnfreezeReply{example_freeze()}),
             Request{24, UnfreezeRequest{k_root, "deploy", true, plain_identity()}}, reply(24, UnfreezeReply{std::nullopt}),
             reply(25, error(Op::unfreeze, ErrorCode::not_found, "lock \"deploy\" is not frozen"))}};
}

GoldenFile subscribe_audit() {
    return {"subscribe_audit",
            {Request{26, SubscribeAuditRequest{k_root, "2026-11-22T12:00:00Z", "build"}}, reply(26, SubscribeAuditReply{}),
             Request{27, SubscribeAuditRequest{k_root, "", ""}}, reply(27, SubscribeAuditReply{})}};
}

GoldenFile event() {
    const auto acquire_line =
        make_audit_event(26, R"({"ts":"2026-11-22T12:50:13.468669729Z","event":"acquire","name":"build","lock_id":)"
                             R"("035b9c0ac2e782764cda6a0e58b77cf8","owner":"agent-1","host":"devbox","pid":7271,)"
                             R"("agent_id":"agent-e2fb","ttl_sec":300})");
    const auto break_line =
        make_audit_event(26, R"({"ts": "2026-11-22T13:00:00Z", "event": "stale-break", "name": "build", "owner": "dev",)"
                             R"( "host": "devbox", "pid": 8100, "extra": {"reason": "dead", "holder": "agent-1@devbox"}})");
    return {"event", {ServerMessage{acquire_line.value()}, ServerMessage{break_line.value()}}};
}

GoldenFile unsubscribe() {
    return {"unsubscribe",
            {Request{28, UnsubscribeRequest{26}}, reply(28, UnsubscribeReply{}),
             reply(29, error(Op::unsubscribe, ErrorCode::not_found, "no subscription 99 on this connection"))}};
}

GoldenFile daemon_status() {
    DaemonStatusReply status{
        4242, "0.1.0", 3723000, 3, 2, 1, {RootStatus{k_root, 1, 1, 1, {}}, RootStatus{"/home/dev/other/.lokt", 1, 0, 0, {}}}};
    return {"daemon_status", {Request{30, DaemonStatusRequest{}}, reply(30, status)}};
}

GoldenFile shutdown() { return {"shutdown", {Request{31, ShutdownRequest{}}, reply(31, ShutdownReply{})}}; }

GoldenFile etcd_hold() {
    EtcdHoldRequest hold;
    hold.endpoints = "http://127.0.0.1:2379";
    hold.prefix = "lokt/github.com/acme/app/";
    hold.ttl_ms = 15000;
    hold.hold_key = "lokt/github.com/acme/app/q/deploy/6f1c0a2b9e8d4c7a8b5e3f2d1c0b9a87";
    return {"etcd_hold", {Request{40, hold}, reply(40, EtcdHoldReply{7587880431478432001})}};
}

// Replies to requests the daemon could not decode, as error_reply_for() makes
// them from decode_request()'s own error, and two replies for failures of the
// daemon itself.
Example refused(const std::string& line) { return ServerMessage{error_reply_for(line, decode_request(line).error())}; }

GoldenFile errors() {
    return {
        "error",
        {refused("[1,2]"), refused(R"({"id":32,"op":"frobnicate"})"),
         refused(R"({"id":33,"op":"acquire","root":"repo/.lokt","name":"build","mode":"guard"})"),
         refused(R"({"id":34,"op":"release","root":"/r","name":"build","lock_id":"035B9C0A"})"),
         ServerMessage{Reply{0, error(std::nullopt, LineFramer().too_long_error().code, LineFramer().too_long_error().message)}},
         reply(35, error(Op::status, ErrorCode::io, "cannot open /home/dev/repo/.git/lokt/locks: Permission denied")),
         reply(36, error(Op::acquire, ErrorCode::internal, "unexpected exception: std::bad_alloc"))}};
}

}  // namespace

std::vector<GoldenFile> golden_files() {
    return {hello(),       acquire(),       acquire_slot(), acquire_shared(), progress(), release(),         renew(),
            unlock(),      unlock_many(),   status(),       freeze(),         unfreeze(), subscribe_audit(), event(),
            unsubscribe(), daemon_status(), shutdown(),     etcd_hold(),      errors()};
}

std::string encode_example(const Example& example) {
    return std::visit([](const auto& message) { return encode(message); }, example);
}

}  // namespace lokt::protocol::test
