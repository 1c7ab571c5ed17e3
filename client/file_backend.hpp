// The backend that works directly on the lock root's files, with no daemon.
// Waiting is event-driven: inotify on locks/ and freezes/, a pidfd on the holder.
#pragma once

#include <memory>

#include "client/backend.hpp"
#include "client/file_wait_records.hpp"
#include "client/release_watcher.hpp"

namespace lokt::client {

class FileBackend final : public Backend {
public:
    explicit FileBackend(LockEngine engine) : m_engine(std::move(engine)) {}

    std::string_view kind() const override { return "files"; }
    std::string root() const override { return m_engine.store().root().string(); }

    Result<Acquired> acquire(const AcquireSpec& spec, const WaitOptions& wait, const WaitObserver& observer) override;
    Result<void> renew(Lease& lease, Nanoseconds ttl) override;
    // The hold's record as its file has it now, if it is still ours
    // (ErrorCode::lost otherwise): the heartbeat of a hold someone else renews.
    Result<LockRecord> held(const Lease& lease) { return m_engine.held(lease.name(), lease.lock_id()); }
    // See LockEngine::finish_daemon_request: set while ending on the files
    // what a daemon that went away was asked to end.
    void finish_daemon_request(std::optional<WallTime> asked_at) { m_engine.finish_daemon_request(asked_at); }
    // Names the file written, so that it is not read back while it is there unchanged.
    Result<void> release(const Lease& lease, const ReleaseNote& note = {}) override {
        return m_engine.release(lease.name(), lease.lock_id(), lease.file, note);
    }
    // See LockEngine::audit_adopted_grant.
    Result<void> audit_adopted_grant(const StoredRecord& hold, WallTime since, const std::string& group) {
        return m_engine.audit_adopted_grant(hold, since, group);
    }
    void record_lost(const Lease& lease, const std::string& detail) override {
        m_engine.record_lost(lease.name(), lease.lock_id(), detail);
    }
    Result<HoldHandle> create_hold_handle() override { return HoldHandle::create(m_engine.store().root()); }
    Result<LockRecord> unlock(const std::string& name, UnlockMode mode) override { return m_engine.unlock(name, mode); }
    Result<UnlockManyResult> unlock_many(const std::string& owner, bool force) override {
        return m_engine.unlock_many(owner, force);
    }
    Result<LockRecord> freeze(const std::string& name, Nanoseconds ttl, bool force) override {
        return m_engine.freeze(name, ttl, force);
    }
    Result<LockRecord> unfreeze(const std::string& name, bool force) override { return m_engine.unfreeze(name, force); }
    Result<LockView> inspect(const std::string& name) override { return m_engine.inspect(name); }
    Result<std::vector<LockView>> list(bool prune) override { return m_engine.list(prune); }
    Result<std::vector<FreezeView>> list_freezes() override { return m_engine.list_freezes(); }
    Result<std::vector<std::string>> names(Area area) override { return m_engine.store().list(area); }
    // Waiters on the files poll on their own: nobody keeps a queue. Those
    // that wait now are known from their side files in waits/, oldest first.
    Result<QueueView> queue(const std::string& name) override {
        QueueView view;
        view.waiters = waiters_on_disk(m_engine.store().root(), name);
        view.keeper = "waits/";
        return view;
    }
    Result<QueuesView> queues() override { return QueuesView{}; }
    // inotify on the root (see file_change_feed.hpp).
    Result<std::unique_ptr<ChangeFeed>> watch_changes() override;

    // root/audit.log (see audit_log_tail.hpp).
    std::vector<AuditEvent> latest_audit_events(std::size_t count) override;
    Result<std::optional<WallTime>> audit_time_of_last(const AuditQuery& query, std::size_t count) override;
    // inotify on the root (see file_audit_follow.hpp).
    Result<void> follow_audit(const AuditQuery& query, const AuditPrinter& print) override;

private:
    // Before a wait begins: puts it on disk (record) and returns the cycle of
    // waits and manual holds it closes, if any (file_wait_records.hpp).
    std::optional<std::vector<WaitEdge>> closes_wait_cycle(const AcquireSpec& spec, const Refusal& refusal,
                                                           std::optional<WaitRecord>& record);

    LockEngine m_engine;
    // Kept until the process exits: closing an inotify instance waits for the
    // kernel (milliseconds), which would delay the command we just won the lock for.
    std::unique_ptr<ReleaseWatcher> m_watcher;
};

}  // namespace lokt::client
