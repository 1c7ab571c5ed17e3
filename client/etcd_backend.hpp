// The backend that keeps locks in etcd, shared by every host that points at
// the same cluster and namespace (docs/distributed.md). lokt talks to etcd
// itself; when a loktd answers, a guard's holds go on loktd's lease instead of
// one of its own, and loktd deletes them as soon as the guard goes.
//
// Keys under the namespace's prefix P:
//   P q/NAME/LOCK_ID   a queue entry: the hold when it has the lowest
//                      create_revision under P q/NAME/, else a waiter. Its
//                      value is the lock record; its create_revision is the
//                      fence (LOKT_FENCE), which only grows.
//   P f/NAME           a freeze, on a lease of the freeze's TTL.
//   P a/TIME-RANDOM    one audit event (the JSON line of the local log).
// Holds of `guard` and waiters live on loktd's lease for this cluster and
// namespace, each bound to the guard's connection to loktd (EtcdHoldRequest);
// without a loktd, on one lease per process. Either is kept alive by guard's
// renew loop too; `lock --ttl D` puts its hold on a lease of TTL D that
// nobody renews. A hold is released only by a transaction that compares its
// create_revision, so it can never delete a newer holder's key.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "client/backend.hpp"
#include "client/daemon_backend.hpp"
#include "client/etcd_settings.hpp"
#include "protocol/etcd/client.hpp"
#include "protocol/etcd/lock_space.hpp"

namespace lokt::client {

// How long a guard without --ttl keeps its lease alive between keepalives
// at most: its holds end this long after its host dies or is cut off.
inline constexpr std::chrono::seconds k_etcd_guard_lease_ttl{15};

class EtcdBackend final : public Backend {
public:
    // daemon: a connection to loktd whose lease a guard's holds go on, or
    // none (then each process has its own). daemon_required: without an
    // answer from it, fail rather than use a lease of our own.
    EtcdBackend(EtcdSettings settings, Identity actor, std::optional<DaemonConnection> daemon = std::nullopt,
                bool daemon_required = false);
    ~EtcdBackend() override;

    std::string_view kind() const override { return "etcd"; }
    std::string root() const override;
    const EtcdSettings& settings() const { return m_settings; }
    // One cheap read, for doctor: the revision, or why etcd cannot be used.
    Result<std::int64_t> ping();

    Result<Acquired> acquire(const AcquireSpec& spec, const WaitOptions& wait, const WaitObserver& observer) override;
    // A keepalive of the hold's lease, and a look that its key is still there.
    Result<void> renew(Lease& lease, Nanoseconds ttl) override;
    // A third of the TTL: two keepalives may fail (a member stopping, an
    // election) before the lease is in danger.
    Nanoseconds renew_interval(const Lease&, Nanoseconds ttl) const override { return ttl / 3; }
    std::optional<Nanoseconds> guard_lease_ttl() const override { return k_etcd_guard_lease_ttl; }
    Result<void> release(const Lease& lease, const ReleaseNote& note = {}) override;
    void record_lost(const Lease& lease, const std::string& detail) override;
    // No liveness handle: the lease is what keeps a hold alive across hosts.
    Result<HoldHandle> create_hold_handle() override { return HoldHandle{}; }

    Result<LockRecord> unlock(const std::string& name, UnlockMode mode) override;
    Result<UnlockManyResult> unlock_many(const std::string& owner, bool force) override;
    Result<LockRecord> freeze(const std::string& name, Nanoseconds ttl, bool force) override;
    Result<LockRecord> unfreeze(const std::string& name, bool force) override;

    Result<LockView> inspect(const std::string& name) override;
    Result<std::vector<LockView>> list(bool prune) override;
    Result<std::vector<FreezeView>> list_freezes() override;
    Result<std::vector<std::string>> names(Area area) override;
    Result<QueueView> queue(const std::string& name) override;
    Result<QueuesView> queues() override;
    Result<std::unique_ptr<ChangeFeed>> watch_changes() override;

    std::vector<AuditEvent> latest_audit_events(std::size_t count) override;
    Result<std::optional<WallTime>> audit_time_of_last(const AuditQuery& query, std::size_t count) override;
    Result<void> follow_audit(const AuditQuery& query, const AuditPrinter& print) override;
    std::optional<Result<void>> read_own_audit(const AuditQuery& query, const AuditPrinter& visit) override;

private:
    struct Head;
    // Every queue entry of a name (or of every name), oldest first.
    Result<std::vector<etcd::KeyValue>> queue_entries(const std::string& name, std::int64_t* revision = nullptr);
    Result<std::vector<etcd::KeyValue>> all_queue_entries();
    Result<std::optional<LockRecord>> live_freeze(const std::string& name);
    void audit(const AuditEvent& event);
    // The lease a hold of spec goes on. may_defer: a new lease is only chosen,
    // and granted with the first transaction that uses it (grant_then_txn).
    // key: the queue entry that goes on it, bound to our connection to loktd
    // when loktd's lease is used.
    Result<std::int64_t> lease_for(const AcquireSpec& spec, const std::string& key, bool may_defer = false);
    // loktd's lease for holds of this TTL, with key bound to our connection;
    // nullopt when there is no loktd to ask (any more).
    std::optional<Result<std::int64_t>> daemon_lease(std::int64_t ttl_sec, const std::string& key);
    void drop_lease(std::int64_t lease);
    Refusal refusal_for(const std::string& name, const LockRecord& holder) const;
    // Waits until key is deleted (watched from revision) or until the deadline.
    void wait_for_delete(const std::string& key, std::int64_t revision, std::chrono::steady_clock::time_point until);

    EtcdSettings m_settings;
    Identity m_actor;
    std::string m_prefix;
    etcd::LockSpace m_space;
    etcd::Client m_client;
    std::optional<DaemonConnection> m_daemon;
    bool m_daemon_required = false;
    bool m_daemon_hello_sent = false;
    bool m_daemon_leases = true;       // false once loktd could not give one (or its lease was gone)
    std::int64_t m_process_lease = 0;  // 0: none yet (loktd's, when it gave one)
    std::int64_t m_process_lease_ttl = 0;
    // A lease chosen and not granted yet (0: none), and its TTL.
    std::int64_t m_ungranted_lease = 0;
    std::int64_t m_ungranted_ttl = 0;
};

}  // namespace lokt::client
