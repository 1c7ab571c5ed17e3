// The fakes RootState is tested with: a clock moved by hand and lock files
// kept in a map, recording every call, plus a ticket maker and a fixture.
// Shared by the behaviour tests and the tests of its bookkeeping at scale.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "daemon/root_state.hpp"

namespace lokt::daemon::root_state_fakes {

class FakeClock final : public Clock {
public:
    SteadyTime steady_now() const override { return SteadyTime(m_elapsed); }
    WallTime wall_now() const override { return WallTime(std::chrono::hours(24 * 365 * 50)) + m_elapsed; }
    void advance(Nanoseconds by) { m_elapsed += by; }

private:
    Nanoseconds m_elapsed{std::chrono::hours(1)};
};

// Lock files as a map; records every call so tests can check what was written.
class FakeFiles final : public FileOps {
public:
    explicit FakeFiles(const FakeClock& clock) : m_clock(clock) {}

    Result<AcquireResult> try_acquire(const AcquireSpec& spec, const Identity& actor) override {
        ++tries;
        AcquireResult result;
        if (auto f = freezes.find(spec.name); f != freezes.end()) {
            result.refusal.code = ErrorCode::frozen;
            result.refusal.message = "lock \"" + spec.name + "\" is frozen";
            result.refusal.freeze = f->second;
            if (spec.audit_denial) log.push_back("freeze-deny " + spec.name + " by " + std::to_string(actor.pid));
            return result;
        }
        if (spec.shared) return try_shared(spec, actor);
        if (auto group = shared.find(spec.name); group != shared.end() && !group->second.empty()) {
            result.refusal.code = ErrorCode::held;
            result.refusal.message = "lock \"" + spec.name + "\" held in shared mode";
            result.refusal.holder = group->second.begin()->second;
            if (spec.audit_denial) log.push_back("deny " + spec.name + " by " + std::to_string(actor.pid));
            return result;
        }
        if (refused_by_holder(spec, actor, result)) return result;
        LockRecord record = new_record(spec);
        record.owner_explicit = spec.holder.owner_explicit;
        record.handle = spec.handle;
        locks[spec.name] = record;
        log.push_back("acquire " + spec.name + " by " + std::to_string(actor.pid));
        result.outcome = AcquireResult::Outcome::acquired;
        result.record = record;
        result.file.inode = ++versions[spec.name];
        result.file.change_ns = 1;
        return result;
    }

    // The fake's "file identity" is a version number per name, bumped on every write.
    bool lock_file_is(const std::string& name, WrittenFile written) override {
        ++identity_checks;
        auto held = locks.find(name);
        return held != locks.end() && versions[name] == written.inode && written.change_ns == 1;
    }

    void record_denial(const AcquireSpec& spec, const Refusal& refusal, const Identity& actor) override {
        log.push_back(std::string(refusal.freeze ? "freeze-deny " : "deny ") + spec.name + " by " + std::to_string(actor.pid));
    }

    Result<LockRecord> renew(const std::string& name, const std::string& lock_id, Nanoseconds ttl, const Identity& actor,
                             WrittenFile expected = {}, WrittenFile* written = nullptr) override {
        if (auto member = find_member(name, lock_id)) {
            member->expires_at = m_clock.wall_now() + ttl;
            if (written != nullptr) *written = WrittenFile{};
            log.push_back("renew " + name + " by " + std::to_string(actor.pid));
            return *member;
        }
        auto held = locks.find(name);
        if (held == locks.end() || held->second.lock_id != lock_id) return make_error(ErrorCode::lost, "lost");
        if (expected.known() && !(versions[name] == expected.inode && expected.change_ns == 1)) {
            return make_error(ErrorCode::not_owner, "not the file we wrote");
        }
        held->second.expires_at = m_clock.wall_now() + ttl;
        ++versions[name];
        if (written != nullptr) *written = WrittenFile{static_cast<ino_t>(versions[name]), 1};
        log.push_back("renew " + name + " by " + std::to_string(actor.pid));
        return held->second;
    }

    Result<void> release(const std::string& name, const std::string& lock_id, const Identity& actor, WrittenFile written,
                         const ReleaseNote& note) override {
        if (find_member(name, lock_id) != nullptr) {
            shared[name].erase(lock_id);
            log.push_back("release " + name + " by " + std::to_string(actor.pid));
            return {};
        }
        auto held = locks.find(name);
        if (held == locks.end() || held->second.lock_id != lock_id) return make_error(ErrorCode::lost, "lost");
        locks.erase(held);
        log.push_back("release " + name + " by " + std::to_string(actor.pid) +
                      (written.known() ? " of version " + std::to_string(written.inode) : "") +
                      (note.exit_status ? " exit " + std::to_string(*note.exit_status) : ""));
        return {};
    }

    // Holders are alive while their pid is in alive_pids; a guard's command
    // carries its hold while its handle is in held_handles.
    Result<HoldCheck> end_if_stale(const std::string& name, const std::string& lock_id, const Identity& actor) override {
        ++stale_checks;
        if (LockRecord* member = find_member(name, lock_id)) {
            if (alive_pids.count(static_cast<pid_t>(member->pid)) != 0) return HoldCheck{HoldState::live, false};
            shared[name].erase(lock_id);
            log.push_back("stale-break " + name + " by " + std::to_string(actor.pid));
            return HoldCheck{HoldState::dead_holder, false};
        }
        auto held = locks.find(name);
        if (held == locks.end() || held->second.lock_id != lock_id) return HoldCheck{};
        if (alive_pids.count(static_cast<pid_t>(held->second.pid)) != 0) return HoldCheck{HoldState::live, false};
        if (!held->second.handle.empty() && held_handles.count(held->second.handle) != 0) {
            return HoldCheck{HoldState::live, true};
        }
        locks.erase(held);
        log.push_back("stale-break " + name + " by " + std::to_string(actor.pid));
        return HoldCheck{HoldState::dead_holder, false};
    }

    // An exclusive holder of spec.name refuses the acquire: fills result, writes the deny line.
    bool refused_by_holder(const AcquireSpec& spec, const Identity& actor, AcquireResult& result) {
        auto held = locks.find(spec.name);
        if (held == locks.end()) return false;
        result.refusal.code = ErrorCode::held;
        result.refusal.message = "lock \"" + spec.name + "\" held by pid " + std::to_string(held->second.pid);
        result.refusal.holder = held->second;
        if (spec.audit_denial) log.push_back("deny " + spec.name + " by " + std::to_string(actor.pid));
        return true;
    }
    // A new hold's record, as a grant writes it.
    LockRecord new_record(const AcquireSpec& spec) {
        LockRecord record;
        record.name = spec.name;
        record.lock_id = "id" + std::to_string(++m_next_id);
        record.owner = spec.holder.owner;
        record.host = spec.holder.host;
        record.pid = spec.holder.pid;
        record.acquired = m_clock.wall_now();
        record.bound_to = spec.binding;
        if (spec.ttl) record.expires_at = m_clock.wall_now() + *spec.ttl;
        return record;
    }

    // A shared acquire joins NAME's group unless an exclusive lock is there.
    Result<AcquireResult> try_shared(const AcquireSpec& spec, const Identity& actor) {
        AcquireResult result;
        if (refused_by_holder(spec, actor, result)) return result;
        LockRecord record = new_record(spec);
        shared[spec.name][record.lock_id] = record;
        log.push_back("acquire shared " + spec.name + " by " + std::to_string(actor.pid));
        result.outcome = AcquireResult::Outcome::acquired;
        result.record = record;
        return result;  // no file identity: a group's file is not one member's
    }
    LockRecord* find_member(const std::string& name, const std::string& lock_id) {
        auto group = shared.find(name);
        if (group == shared.end()) return nullptr;
        auto member = group->second.find(lock_id);
        return member == group->second.end() ? nullptr : &member->second;
    }
    // The lock id of the member held by a connection's pid.
    std::string member_id(const std::string& name, pid_t pid) {
        for (const auto& [id, member] : shared[name]) {
            if (member.pid == pid) return id;
        }
        return {};
    }

    std::map<std::string, LockRecord> locks;
    std::map<std::string, std::map<std::string, LockRecord>> shared;  // name -> lock id -> member
    std::map<std::string, LockRecord> freezes;
    std::vector<std::string> log;
    int tries = 0;  // try_acquire calls
    int identity_checks = 0;
    int stale_checks = 0;
    std::map<std::string, ino_t> versions;
    std::set<pid_t> alive_pids;
    std::set<std::string> held_handles;

private:
    const FakeClock& m_clock;
    int m_next_id = 0;
};

inline constexpr const char* k_host = "testhost";

inline AcquireTicket ticket(ConnectionId connection, const std::string& name, bool wait,
                            std::optional<Nanoseconds> ttl = std::nullopt, Nanoseconds timeout = std::chrono::minutes(10)) {
    AcquireTicket t;
    t.connection = connection;
    t.request_id = 100 + connection;
    t.spec.name = name;
    t.spec.binding = Binding::guard;
    t.spec.ttl = ttl;
    t.actor.owner = "agent-" + std::to_string(connection);
    t.actor.host = k_host;
    t.actor.pid = static_cast<pid_t>(1000 + connection);
    t.spec.holder = t.actor;
    t.wait = wait;
    t.timeout = timeout;
    t.progress = true;
    return t;
}

struct Fixture {
    FakeClock clock;
    FakeFiles files{clock};
    RootState state{files, clock, k_host};

    // The connections granted in `effects`, in order.
    static std::vector<ConnectionId> granted(const Effects& effects) {
        std::vector<ConnectionId> out;
        for (const auto& answer : effects.answers) {
            if (answer.result && answer.result->granted()) out.push_back(answer.connection);
        }
        return out;
    }
    std::string lock_id(const std::string& name) { return files.locks.at(name).lock_id; }
    Identity actor(ConnectionId connection) { return ticket(connection, "x", false).actor; }
    // Connection 1 holds "build" and connection 2 waits for it.
    void holder_and_waiter(Effects& effects) {
        state.acquire(ticket(1, "build", false), effects);
        state.acquire(ticket(2, "build", true), effects);
    }
};

}  // namespace lokt::daemon::root_state_fakes
