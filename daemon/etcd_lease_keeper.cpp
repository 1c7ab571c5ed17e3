// See etcd_lease_keeper.hpp: the worker thread that grants and keeps alive the
// lease, and deletes the queue keys of clients that went away.
#include "daemon/etcd_lease_keeper.hpp"

#include "common/lock_engine.hpp"
#include "daemon/log.hpp"

namespace lokt::daemon {

void EtcdLeaseKeeper::Shared::post(std::function<void()> f) {
    std::lock_guard lock(mutex);
    if (!loop_gone) asio::post(*io, std::move(f));
}

EtcdLeaseKeeper::EtcdLeaseKeeper(asio::io_context& io, etcd::ClientOptions options, std::string prefix, std::int64_t ttl_sec,
                                 Identity actor)
    : m_shared(std::make_shared<Shared>(io, std::move(options), std::move(prefix), ttl_sec, std::move(actor))),
      m_worker([shared = m_shared] { run(shared); }) {}

EtcdLeaseKeeper::~EtcdLeaseKeeper() {
    {
        std::unique_lock lock(m_shared->mutex);
        m_shared->stopping = true;
        m_shared->wake.notify_all();
        m_shared->drained.wait_for(lock, k_drain_on_stop, [&] { return m_shared->jobs.empty() && !m_shared->running_job; });
        m_shared->jobs.clear();  // lease requests nobody will answer now
        m_shared->loop_gone = true;
    }
    m_worker.detach();
}

void EtcdLeaseKeeper::push(Job job) {
    {
        std::lock_guard lock(m_shared->mutex);
        m_shared->jobs.push_back(std::move(job));
    }
    m_shared->wake.notify_all();
}

void EtcdLeaseKeeper::lease(LeaseCallback done) { push(Job{std::move(done), {}, {}}); }

void EtcdLeaseKeeper::release_dead(std::vector<std::string> keys, std::string why) {
    if (!keys.empty()) push(Job{{}, std::move(keys), std::move(why)});
}

void EtcdLeaseKeeper::run(const std::shared_ptr<Shared>& shared) {
    Shared& s = *shared;
    std::unique_lock lock(s.mutex);
    for (;;) {
        if (s.jobs.empty()) {
            if (s.stopping) return;
            if (s.lease != 0) {
                s.wake.wait_until(lock, s.next_keepalive, [&] { return s.stopping || !s.jobs.empty(); });
            } else {
                s.wake.wait(lock, [&] { return s.stopping || !s.jobs.empty(); });
            }
        }
        if (!s.jobs.empty()) {
            Job job = std::move(s.jobs.front());
            s.jobs.pop_front();
            s.running_job = true;
            lock.unlock();
            if (job.lease_done) {
                do_lease(s, job.lease_done);
            } else {
                do_release(s, job.keys, job.why);
            }
            lock.lock();
            s.running_job = false;
            if (s.jobs.empty()) s.drained.notify_all();
            continue;
        }
        if (!s.stopping && s.lease != 0 && std::chrono::steady_clock::now() >= s.next_keepalive) {
            lock.unlock();
            keepalive(s);
            lock.lock();
        }
    }
}

void EtcdLeaseKeeper::do_lease(Shared& s, const LeaseCallback& done) {
    Result<std::int64_t> answer = s.lease;
    if (s.lease == 0) {
        answer = s.client.lease_grant(s.ttl_sec);
        if (answer) {
            s.lease = *answer;
            s.next_keepalive = std::chrono::steady_clock::now() + std::chrono::milliseconds(s.ttl_sec * 1000 / 3);
            s.post([lease = s.lease, prefix = s.space.prefix(), ttl = s.ttl_sec] {
                log::info("etcd {}: lease {} granted (TTL {}s)", prefix, lease, ttl);
            });
        }
    }
    s.post([done, answer = std::move(answer)]() mutable { done(std::move(answer)); });
}

void EtcdLeaseKeeper::keepalive(Shared& s) {
    auto kept = s.client.lease_keepalive(s.lease);
    const auto now = std::chrono::steady_clock::now();
    if (kept) {
        s.next_keepalive = now + std::chrono::milliseconds(s.ttl_sec * 1000 / 3);
        return;
    }
    const std::string why = kept.error().message;
    if (kept.error().code == ErrorCode::lost) {
        // Run out (we were paused, or cut off): its holds are gone, and
        // their guards find out when they renew. The next hold gets a new one.
        s.post([lease = s.lease, prefix = s.space.prefix(), why] {
            log::warn("etcd {}: lease {} is gone ({}); the next hold gets a new one", prefix, lease, why);
        });
        s.lease = 0;
        return;
    }
    // No member answered: try again soon, while the lease may still be alive.
    s.post([prefix = s.space.prefix(), why] { log::warn("etcd {}: keepalive failed: {}", prefix, why); });
    s.next_keepalive = now + std::chrono::milliseconds(std::min<std::int64_t>(1000, s.ttl_sec * 1000 / 6));
}

void EtcdLeaseKeeper::do_release(Shared& s, const std::vector<std::string>& keys, const std::string& why) {
    for (const auto& key : keys) {
        etcd::RangeRequest request;
        request.key = key;
        auto read = s.client.range(request);
        if (!read) {
            s.post([key, problem = read.error().message] {
                log::warn("etcd: could not look at {} to release it: {}", key, problem);
            });
            continue;
        }
        if (read->kvs.empty()) continue;  // released by its guard, or already broken
        const etcd::KeyValue& entry = read->kvs.front();
        const auto name = s.space.name_of_queue_key(key);
        if (!name) continue;
        std::optional<AuditEvent> event;
        if (auto record = etcd::record_of(entry)) {
            event = make_audit_event("stale-break", *name, s.actor);
            event->lock_id = record->lock_id;
            event->extra_json = holder_extra(*record, why);
        }
        auto removed = s.space.remove_entry(s.client, entry, event);
        const bool ok = removed.ok() && *removed;
        std::string problem = removed.ok() ? std::string() : removed.error().message;
        s.post([key, ok, problem] {
            if (ok) {
                log::info("etcd: released {}: its client's connection closed", key);
            } else if (!problem.empty()) {
                log::warn("etcd: could not release {}: {}", key, problem);
            }
        });
    }
}

}  // namespace lokt::daemon
