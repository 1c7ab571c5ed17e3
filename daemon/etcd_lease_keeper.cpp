// See etcd_lease_keeper.hpp: the worker thread that grants and keeps alive the
// lease, and deletes the queue keys of clients that went away.
#include "daemon/etcd_lease_keeper.hpp"

#include <nlohmann/json.hpp>

#include "common/lock_engine.hpp"
#include "daemon/log.hpp"

namespace lokt::daemon {

EtcdLeaseKeeper::EtcdLeaseKeeper(asio::io_context& io, etcd::ClientOptions options, std::string prefix, std::int64_t ttl_sec,
                                 Identity actor)
    : m_io(io),
      m_ttl_sec(ttl_sec),
      m_actor(std::move(actor)),
      m_space(std::move(prefix)),
      m_client(std::move(options)),
      m_worker([this] { run(); }) {}

EtcdLeaseKeeper::~EtcdLeaseKeeper() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_wake.notify_all();
    m_worker.join();
}

void EtcdLeaseKeeper::lease(LeaseCallback done) {
    {
        std::lock_guard lock(m_mutex);
        m_jobs.push_back(Job{std::move(done), {}, {}});
    }
    m_wake.notify_all();
}

void EtcdLeaseKeeper::release_dead(std::vector<std::string> keys, std::string why) {
    if (keys.empty()) return;
    {
        std::lock_guard lock(m_mutex);
        m_jobs.push_back(Job{{}, std::move(keys), std::move(why)});
    }
    m_wake.notify_all();
}

std::size_t EtcdLeaseKeeper::pending() const {
    std::lock_guard lock(m_mutex);
    return m_jobs.size();
}

void EtcdLeaseKeeper::run() {
    std::unique_lock lock(m_mutex);
    for (;;) {
        if (m_jobs.empty()) {
            if (m_stopping) return;
            if (m_lease != 0) {
                m_wake.wait_until(lock, m_next_keepalive, [&] { return m_stopping || !m_jobs.empty(); });
            } else {
                m_wake.wait(lock, [&] { return m_stopping || !m_jobs.empty(); });
            }
        }
        if (!m_jobs.empty()) {
            Job job = std::move(m_jobs.front());
            m_jobs.pop_front();
            lock.unlock();
            if (job.lease_done) {
                do_lease(job.lease_done);
            } else {
                do_release(job.keys, job.why);
            }
            lock.lock();
            continue;
        }
        if (m_lease != 0 && std::chrono::steady_clock::now() >= m_next_keepalive && !m_stopping) {
            lock.unlock();
            keepalive();
            lock.lock();
        }
    }
}

void EtcdLeaseKeeper::do_lease(const LeaseCallback& done) {
    Result<std::int64_t> answer = m_lease;
    if (m_lease == 0) {
        answer = m_client.lease_grant(m_ttl_sec);
        if (answer) {
            m_lease = *answer;
            m_next_keepalive = std::chrono::steady_clock::now() + std::chrono::milliseconds(m_ttl_sec * 1000 / 3);
            asio::post(m_io, [lease = m_lease, prefix = m_space.prefix(), ttl = m_ttl_sec] {
                log::info("etcd {}: lease {} granted (TTL {}s)", prefix, lease, ttl);
            });
        }
    }
    asio::post(m_io, [done, answer = std::move(answer)]() mutable { done(std::move(answer)); });
}

void EtcdLeaseKeeper::keepalive() {
    auto kept = m_client.lease_keepalive(m_lease);
    const auto now = std::chrono::steady_clock::now();
    if (kept) {
        m_next_keepalive = now + std::chrono::milliseconds(m_ttl_sec * 1000 / 3);
        return;
    }
    const std::string why = kept.error().message;
    if (kept.error().code == ErrorCode::lost) {
        // Run out (we were paused, or cut off): its holds are gone, and
        // their guards find out when they renew. The next hold gets a new one.
        asio::post(m_io, [lease = m_lease, prefix = m_space.prefix(), why] {
            log::warn("etcd {}: lease {} is gone ({}); the next hold gets a new one", prefix, lease, why);
        });
        m_lease = 0;
        return;
    }
    // No member answered: try again soon, while the lease may still be alive.
    asio::post(m_io, [prefix = m_space.prefix(), why] { log::warn("etcd {}: keepalive failed: {}", prefix, why); });
    m_next_keepalive = now + std::chrono::milliseconds(std::min<std::int64_t>(1000, m_ttl_sec * 1000 / 6));
}

void EtcdLeaseKeeper::do_release(const std::vector<std::string>& keys, const std::string& why) {
    for (const auto& key : keys) {
        etcd::RangeRequest request;
        request.key = key;
        auto read = m_client.range(request);
        if (!read) {
            asio::post(
                m_io, [key, why = read.error().message] { log::warn("etcd: could not look at {} to release it: {}", key, why); });
            continue;
        }
        if (read->kvs.empty()) continue;  // released by its guard, or already broken
        const etcd::KeyValue& entry = read->kvs.front();
        const auto name = m_space.name_of_queue_key(key);
        if (!name) continue;
        std::optional<AuditEvent> event;
        if (auto record = etcd::record_of(entry)) {
            event = make_audit_event("stale-break", *name, m_actor);
            event->lock_id = record->lock_id;
            event->extra_json = holder_extra(*record, why);
        }
        auto removed = m_space.remove_entry(m_client, entry, event);
        asio::post(m_io, [key, ok = removed.ok() && *removed, problem = removed ? std::string() : removed.error().message] {
            if (ok) {
                log::info("etcd: released {}: its client's connection closed", key);
            } else if (!problem.empty()) {
                log::warn("etcd: could not release {}: {}", key, problem);
            }
        });
    }
}

}  // namespace lokt::daemon
